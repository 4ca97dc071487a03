package leaseapi

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time      { return ptrTo(t0.Add(d)) }
func dur(d time.Duration) *time.Duration { return &d }

func sameTime(a, b *time.Time) bool {
	return (a == nil) == (b == nil) && (a == nil || a.Equal(*b))
}

func sameDuration(a, b *time.Duration) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func checkTimes(t *testing.T, got, want Times) {
	t.Helper()
	if !sameTime(got.Begin, want.Begin) || !sameTime(got.End, want.End) || !sameDuration(got.Duration, want.Duration) {
		t.Errorf("got begin=%v end=%v duration=%v; want begin=%v end=%v duration=%v",
			deref(got.Begin), deref(got.End), deref(got.Duration), deref(want.Begin), deref(want.End), deref(want.Duration))
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return "<unset>"
	}
	return *p
}

func TestTimesFromProto(t *testing.T) {
	_, err := TimesFromProto("lease.", nil, nil, durationpb.New(0))
	wantStatus(t, err, codes.InvalidArgument, "lease.duration", "positive")
	_, err = TimesFromProto("lease.", nil, nil, durationpb.New(-time.Minute))
	wantStatus(t, err, codes.InvalidArgument, "lease.duration")
	_, err = TimesFromProto("lease.", &timestamppb.Timestamp{Seconds: 1 << 62}, nil, nil)
	wantStatus(t, err, codes.InvalidArgument, "lease.begin_time")
	_, err = TimesFromProto("lease.", nil, &timestamppb.Timestamp{Nanos: -1}, nil)
	wantStatus(t, err, codes.InvalidArgument, "lease.end_time")
	_, err = TimesFromProto("", nil, nil, &durationpb.Duration{Seconds: 1, Nanos: -1})
	wantStatus(t, err, codes.InvalidArgument, "duration")
	got, err := TimesFromProto("lease.", timestamppb.New(t0), nil, durationpb.New(time.Hour))
	wantStatus(t, err, codes.OK)
	checkTimes(t, got, Times{Begin: &t0, Duration: dur(time.Hour)})
}

func TestResolveTimes(t *testing.T) {
	tests := []struct {
		name  string
		in    Times
		want  Times
		code  codes.Code
		parts []string
	}{
		{"duration alone", Times{Duration: dur(30 * time.Minute)}, Times{Duration: dur(30 * time.Minute)}, codes.OK, nil},
		{"begin and duration", Times{Begin: at(0), Duration: dur(time.Hour)}, Times{Begin: at(0), Duration: dur(time.Hour)}, codes.OK, nil},
		{"begin and end", Times{Begin: at(0), End: at(time.Hour)}, Times{Begin: at(0), End: at(time.Hour), Duration: dur(time.Hour)}, codes.OK, nil},
		{"end and duration", Times{End: at(time.Hour), Duration: dur(20 * time.Minute)},
			Times{Begin: at(40 * time.Minute), End: at(time.Hour), Duration: dur(20 * time.Minute)}, codes.OK, nil},
		{"all three consistent", Times{Begin: at(0), End: at(time.Hour), Duration: dur(time.Hour)},
			Times{Begin: at(0), End: at(time.Hour), Duration: dur(time.Hour)}, codes.OK, nil},
		{"sub-second times are kept to the second", Times{Begin: at(500 * time.Millisecond), End: at(time.Hour + 700*time.Millisecond)},
			Times{Begin: at(0), End: at(time.Hour), Duration: dur(time.Hour)}, codes.OK, nil},
		{"all three inconsistent", Times{Begin: at(0), End: at(time.Hour), Duration: dur(time.Minute)}, Times{}, codes.InvalidArgument,
			[]string{"lease.duration", "conflicts"}},
		{"end before begin", Times{Begin: at(time.Hour), End: at(0)}, Times{}, codes.InvalidArgument, []string{"lease.end_time", "after begin_time"}},
		{"end equals begin", Times{Begin: at(0), End: at(0)}, Times{}, codes.InvalidArgument, []string{"lease.end_time"}},
		{"same second", Times{Begin: at(100 * time.Millisecond), End: at(900 * time.Millisecond)}, Times{}, codes.InvalidArgument,
			[]string{"lease.end_time", "one second"}},
		{"begin alone", Times{Begin: at(0)}, Times{}, codes.InvalidArgument, []string{"lease.duration", "required"}},
		{"end alone", Times{End: at(0)}, Times{}, codes.InvalidArgument, []string{"lease.duration", "required"}},
		{"nothing", Times{}, Times{}, codes.InvalidArgument, []string{"lease.duration", "required"}},
		{"past year 9999", Times{Begin: ptrTo(time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)), Duration: dur(48 * time.Hour)}, Times{},
			codes.InvalidArgument, []string{"lease.duration", "9999"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveTimes("lease.", tt.in)
			wantStatus(t, err, tt.code, tt.parts...)
			if err == nil {
				checkTimes(t, got, tt.want)
			}
		})
	}
}

func TestUpdateTimes(t *testing.T) {
	started := at(5 * time.Minute)
	tests := []struct {
		name    string
		cur     Times
		started *time.Time
		upd     Times
		want    Times
		code    codes.Code
		parts   []string
	}{
		{"extend an immediate lease", Times{Duration: dur(time.Hour)}, started, Times{Duration: dur(2 * time.Hour)},
			Times{Duration: dur(2 * time.Hour)}, codes.OK, nil},
		{"end of a started immediate lease sets the duration", Times{Duration: dur(time.Hour)}, started, Times{End: at(3 * time.Hour)},
			Times{End: at(3 * time.Hour), Duration: dur(3*time.Hour - 5*time.Minute)}, codes.OK, nil},
		{"end before the start", Times{Duration: dur(time.Hour)}, started, Times{End: at(time.Minute)}, Times{},
			codes.InvalidArgument, []string{"lease.end_time", "after the lease started"}},
		{"duration of a started lease with an end moves the end", Times{End: at(time.Hour), Duration: dur(55 * time.Minute)}, started,
			Times{Duration: dur(time.Hour)}, Times{End: at(time.Hour + 5*time.Minute), Duration: dur(time.Hour)}, codes.OK, nil},
		{"end of a waiting immediate lease", Times{Duration: dur(time.Hour)}, nil, Times{End: at(3 * time.Hour)},
			Times{End: at(3 * time.Hour), Duration: dur(time.Hour)}, codes.OK, nil},
		{"move a scheduled lease", Times{Begin: at(time.Hour), Duration: dur(time.Hour)}, nil, Times{Begin: at(2 * time.Hour)},
			Times{Begin: at(2 * time.Hour), Duration: dur(time.Hour)}, codes.OK, nil},
		{"move a window keeps its length", Times{Begin: at(time.Hour), End: at(2 * time.Hour), Duration: dur(time.Hour)}, nil,
			Times{Begin: at(3 * time.Hour)}, Times{Begin: at(3 * time.Hour), End: at(4 * time.Hour), Duration: dur(time.Hour)}, codes.OK, nil},
		{"longer window", Times{Begin: at(time.Hour), End: at(2 * time.Hour), Duration: dur(time.Hour)}, nil,
			Times{Duration: dur(2 * time.Hour)}, Times{Begin: at(time.Hour), End: at(3 * time.Hour), Duration: dur(2 * time.Hour)}, codes.OK, nil},
		{"later end of a window", Times{Begin: at(time.Hour), End: at(2 * time.Hour), Duration: dur(time.Hour)}, started,
			Times{End: at(4 * time.Hour)}, Times{Begin: at(time.Hour), End: at(4 * time.Hour), Duration: dur(3 * time.Hour)}, codes.OK, nil},
		{"end and duration move a waiting begin", Times{Begin: at(time.Hour), End: at(2 * time.Hour), Duration: dur(time.Hour)}, nil,
			Times{End: at(5 * time.Hour), Duration: dur(2 * time.Hour)},
			Times{Begin: at(3 * time.Hour), End: at(5 * time.Hour), Duration: dur(2 * time.Hour)}, codes.OK, nil},
		{"end and duration cannot move a started begin", Times{Begin: at(0), End: at(time.Hour), Duration: dur(time.Hour)}, started,
			Times{End: at(5 * time.Hour), Duration: dur(2 * time.Hour)}, Times{}, codes.InvalidArgument, []string{"lease.duration", "conflicts"}},
		{"all three inconsistent", Times{Duration: dur(time.Hour)}, nil,
			Times{Begin: at(0), End: at(time.Hour), Duration: dur(2 * time.Hour)}, Times{}, codes.InvalidArgument, []string{"conflicts"}},
		{"begin after start", Times{Duration: dur(time.Hour)}, started, Times{Begin: at(time.Hour)}, Times{},
			codes.FailedPrecondition, []string{"lease.begin_time", "started"}},
		{"unchanged begin after start", Times{Begin: at(0), Duration: dur(time.Hour)}, started, Times{Begin: at(300 * time.Millisecond)},
			Times{Begin: at(0), Duration: dur(time.Hour)}, codes.OK, nil},
		{"end before begin", Times{Begin: at(time.Hour), Duration: dur(time.Hour)}, nil, Times{End: at(0), Duration: dur(time.Hour)},
			Times{Begin: at(-time.Hour), End: at(0), Duration: dur(time.Hour)}, codes.OK, nil},
		{"window end before begin", Times{Begin: at(time.Hour), End: at(2 * time.Hour), Duration: dur(time.Hour)}, nil,
			Times{End: at(0)}, Times{}, codes.InvalidArgument, []string{"lease.end_time"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UpdateTimes("lease.", tt.cur, tt.started, tt.upd)
			wantStatus(t, err, tt.code, tt.parts...)
			if err == nil {
				checkTimes(t, got, tt.want)
			}
		})
	}
}
