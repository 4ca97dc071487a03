package leaseapi

import (
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// Times are the times a lease asks for (spec.beginTime, spec.endTime, spec.duration); nil is
// unset.
type Times struct {
	Begin    *time.Time
	End      *time.Time
	Duration *time.Duration
}

// String renders the times that are set, for logs and messages.
func (t Times) String() string {
	var parts []string
	if t.Begin != nil {
		parts = append(parts, "begin "+formatTime(*t.Begin))
	}
	if t.End != nil {
		parts = append(parts, "end "+formatTime(*t.End))
	}
	if t.Duration != nil {
		parts = append(parts, "duration "+t.Duration.String())
	}
	if len(parts) == 0 {
		return "unset"
	}
	return strings.Join(parts, ", ")
}

// latest is the last time a Lease can store: metav1.Time is written as RFC 3339, years up to
// 9999.
var latest = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// TimesFromProto converts the times of a request, checking that each is well-formed and that a
// duration is positive. prefix is prepended to the field names in errors (e.g. "lease.").
func TimesFromProto(prefix string, begin, end *timestamppb.Timestamp, duration *durationpb.Duration) (Times, error) {
	var t Times
	if begin != nil {
		if err := begin.CheckValid(); err != nil {
			return Times{}, invalidArgument(prefix+"begin_time", "%v", err)
		}
		t.Begin = ptrTo(begin.AsTime())
	}
	if end != nil {
		if err := end.CheckValid(); err != nil {
			return Times{}, invalidArgument(prefix+"end_time", "%v", err)
		}
		t.End = ptrTo(end.AsTime())
	}
	if duration != nil {
		if err := duration.CheckValid(); err != nil {
			return Times{}, invalidArgument(prefix+"duration", "%v", err)
		}
		d := duration.AsDuration()
		if d <= 0 {
			return Times{}, invalidArgument(prefix+"duration", "must be positive, got %s", d)
		}
		t.Duration = &d
	}
	return t, nil
}

// ResolveTimes completes the times of a new lease (wire contract §3.6). Accepted: duration
// alone (the lease starts when an exporter is granted); begin_time + duration; begin_time +
// end_time (duration = the difference); end_time + duration (begin_time = end_time - duration);
// all three if consistent. Times are kept to the second, as the Lease stores them.
func ResolveTimes(prefix string, t Times) (Times, error) {
	switch {
	case t.Begin != nil && t.End != nil:
		if !t.End.After(*t.Begin) {
			return Times{}, invalidArgument(prefix+"end_time", "must be after begin_time (%s)", formatTime(*t.Begin))
		}
		if t.Duration != nil && *t.Duration != t.End.Sub(*t.Begin) {
			return Times{}, invalidArgument(prefix+"duration", "%s conflicts with begin_time and end_time, which are %s apart",
				*t.Duration, t.End.Sub(*t.Begin))
		}
		t.Duration = nil // derived from the stored times by normalize
	case t.End != nil && t.Duration != nil:
		t.Begin = ptrTo(t.End.Add(-*t.Duration))
	case t.Duration == nil:
		return Times{}, invalidArgument(prefix+"duration", "required unless begin_time and end_time are both set")
	}
	return normalize(prefix, t)
}

// UpdateTimes applies the times an update sent (upd; nil: not sent) to a lease's current times
// cur. started is when the lease was granted (nil: not yet). begin_time can only change before
// the lease starts. When the result would be inconsistent, a time that was not sent follows the
// ones that were: the end moves with a new begin or duration, the duration with a new end.
// For a started lease without begin_time, a new end_time sets the duration so that start +
// duration is the end, which is how clients compute it.
func UpdateTimes(prefix string, cur Times, started *time.Time, upd Times) (Times, error) {
	sentBegin, sentEnd, sentDuration := upd.Begin != nil, upd.End != nil, upd.Duration != nil
	if sentBegin && started != nil {
		b := truncate(*upd.Begin)
		if cur.Begin == nil || !cur.Begin.Equal(b) {
			return Times{}, status.Errorf(codes.FailedPrecondition,
				"%sbegin_time: the lease started at %s; its begin_time can no longer change", prefix, formatTime(*started))
		}
	}
	n := cur
	if sentBegin {
		n.Begin = upd.Begin
	}
	if sentEnd {
		n.End = upd.End
	}
	if sentDuration {
		n.Duration = upd.Duration
	}
	switch {
	case n.Begin != nil && n.End != nil:
		if n.Duration == nil || n.End.Equal(n.Begin.Add(*n.Duration)) {
			break
		}
		switch {
		case !sentEnd:
			n.End = ptrTo(n.Begin.Add(*n.Duration))
		case !sentDuration:
			n.Duration = nil // derived from the times by normalize
		case !sentBegin && started == nil:
			n.Begin = ptrTo(n.End.Add(-*n.Duration))
		default:
			return Times{}, invalidArgument(prefix+"duration", "%s conflicts with begin_time (%s) and end_time (%s)",
				*n.Duration, formatTime(*n.Begin), formatTime(*n.End))
		}
	case n.Begin == nil && started != nil && n.End != nil && n.Duration != nil:
		switch {
		case sentEnd && !sentDuration:
			d := n.End.Sub(*started)
			if d <= 0 {
				return Times{}, invalidArgument(prefix+"end_time", "must be after the lease started (%s)", formatTime(*started))
			}
			n.Duration = &d
		case sentDuration && !sentEnd:
			n.End = ptrTo(started.Add(*n.Duration))
		}
	}
	return normalize(prefix, n)
}

// normalize keeps times to the second (a Lease stores metav1.Time), derives the duration of a
// window with both ends, and checks the result.
func normalize(prefix string, t Times) (Times, error) {
	if t.Begin != nil {
		t.Begin = ptrTo(truncate(*t.Begin))
	}
	if t.End != nil {
		t.End = ptrTo(truncate(*t.End))
	}
	if t.Begin != nil && t.End != nil {
		d := t.End.Sub(*t.Begin)
		if d <= 0 {
			return Times{}, invalidArgument(prefix+"end_time", "must be at least one second after begin_time (%s)", formatTime(*t.Begin))
		}
		t.Duration = &d
	}
	if t.Duration == nil {
		return Times{}, invalidArgument(prefix+"duration", "required unless begin_time and end_time are both set")
	}
	if *t.Duration <= 0 {
		return Times{}, invalidArgument(prefix+"duration", "must be positive, got %s", *t.Duration)
	}
	if t.Begin != nil && t.Begin.After(latest) {
		return Times{}, invalidArgument(prefix+"begin_time", "%s is after year 9999", formatTime(*t.Begin))
	}
	if t.End != nil && t.End.After(latest) {
		return Times{}, invalidArgument(prefix+"end_time", "%s is after year 9999", formatTime(*t.End))
	}
	if t.Begin != nil && latest.Sub(*t.Begin) < *t.Duration {
		return Times{}, invalidArgument(prefix+"duration", "%s from begin_time ends after year 9999", *t.Duration)
	}
	return t, nil
}

// SpecTimes are the requested times of a lease.
func SpecTimes(spec *jumpstarterv1alpha1.LeaseSpec) Times {
	var t Times
	if spec.BeginTime != nil {
		t.Begin = ptrTo(spec.BeginTime.UTC())
	}
	if spec.EndTime != nil {
		t.End = ptrTo(spec.EndTime.UTC())
	}
	if spec.Duration != nil {
		t.Duration = ptrTo(spec.Duration.Duration)
	}
	return t
}

// SetSpecTimes stores t as the requested times of a lease.
func SetSpecTimes(spec *jumpstarterv1alpha1.LeaseSpec, t Times) {
	spec.BeginTime, spec.EndTime, spec.Duration = nil, nil, nil
	if t.Begin != nil {
		spec.BeginTime = &metav1.Time{Time: *t.Begin}
	}
	if t.End != nil {
		spec.EndTime = &metav1.Time{Time: *t.End}
	}
	if t.Duration != nil {
		spec.Duration = &metav1.Duration{Duration: *t.Duration}
	}
}

func truncate(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func ptrTo[T any](v T) *T { return &v }
