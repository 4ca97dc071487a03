package leaseapi

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

func TestNewLease(t *testing.T) {
	in := &clientv1.Lease{
		Selector:     "board=rpi4,ram!=1g",
		Duration:     durationpb.New(30 * time.Minute),
		ExporterName: ptr.To(""),
		Tags:         map[string]string{"team": "qa"},
		Context:      map[string]string{"build": "42"},
		// Output-only fields are ignored.
		Name:   "namespaces/other/leases/x",
		Client: ptr.To("namespaces/other/clients/mallory"),
	}
	lease, err := NewLease("lab", "l1", "alice", in, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := &jumpstarterv1alpha1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "l1",
			Labels: map[string]string{"board": "rpi4", "metadata.jumpstarter.dev/team": "qa"}},
		Spec: jumpstarterv1alpha1.LeaseSpec{
			ClientRef: corev1.LocalObjectReference{Name: "alice"},
			Duration:  &metav1.Duration{Duration: 30 * time.Minute},
			Selector: metav1.LabelSelector{
				MatchLabels:      map[string]string{"board": "rpi4"},
				MatchExpressions: []metav1.LabelSelectorRequirement{req("ram", metav1.LabelSelectorOpNotIn, "1g")},
			},
			Tags:    map[string]string{"team": "qa"},
			Context: map[string]string{"build": "42"},
		},
	}
	if !reflect.DeepEqual(lease, want) {
		t.Errorf("NewLease =\n%#v\nwant\n%#v", lease, want)
	}

	pinned, err := NewLease("lab", "l2", "alice", &clientv1.Lease{ExporterName: ptr.To("board1"), AllowDisabled: true,
		BeginTime: timestamppb.New(t0), EndTime: timestamppb.New(t0.Add(time.Hour))}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if pinned.Spec.ExporterRef == nil || pinned.Spec.ExporterRef.Name != "board1" || !pinned.Spec.AllowDisabled ||
		!IsEmptySelector(&pinned.Spec.Selector) || pinned.Labels != nil ||
		pinned.Spec.Duration.Duration != time.Hour || !pinned.Spec.BeginTime.Equal(ptrTo(metav1.NewTime(t0))) {
		t.Errorf("pinned lease: %#v", pinned)
	}
}

func TestNewLeaseErrors(t *testing.T) {
	d := durationpb.New(time.Hour)
	manyTags := map[string]string{}
	for i := range 11 {
		manyTags[fmt.Sprintf("t%d", i)] = "v"
	}
	tests := []struct {
		name  string
		in    *clientv1.Lease
		parts []string
	}{
		{"no lease", nil, []string{"lease: required"}},
		{"no target", &clientv1.Lease{Duration: d, ExporterName: ptr.To("")}, []string{MsgSelectorOrExporterRequired}},
		{"bad selector", &clientv1.Lease{Selector: "board=(", Duration: d}, []string{"lease.selector", `"board=("`}},
		{"huge selector", &clientv1.Lease{Selector: strings.Repeat("a", 100_000) + "=b", Duration: d}, []string{"lease.selector", "longer than the limit"}},
		{"bad exporter", &clientv1.Lease{ExporterName: ptr.To("Board_1"), Duration: d}, []string{"lease.exporter_name"}},
		{"long exporter", &clientv1.Lease{ExporterName: ptr.To(strings.Repeat("b", 64)), Duration: d}, []string{"lease.exporter_name", "63"}},
		{"too many tags", &clientv1.Lease{Selector: "a=b", Duration: d, Tags: manyTags}, []string{"lease.tags"}},
		{"bad context", &clientv1.Lease{Selector: "a=b", Duration: d, Context: map[string]string{"k": strings.Repeat("v", 100)}}, []string{"lease.context[k]"}},
		{"no duration", &clientv1.Lease{Selector: "a=b"}, []string{"lease.duration", "required"}},
		{"zero duration", &clientv1.Lease{Selector: "a=b", Duration: durationpb.New(0)}, []string{"lease.duration", "positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lease, err := NewLease("lab", "l1", "alice", tt.in, 0)
			wantStatus(t, err, codes.InvalidArgument, tt.parts...)
			if lease != nil {
				t.Errorf("got a lease with the error: %v", lease)
			}
		})
	}
}

func TestNewLegacyLease(t *testing.T) {
	lease, err := NewLegacyLease("lab", "l1", "alice", &jumpstarterv1.RequestLeaseRequest{
		Duration: durationpb.New(time.Hour),
		Selector: &jumpstarterv1.LabelSelector{
			MatchLabels:      map[string]string{"board": "rpi4"},
			MatchExpressions: []*jumpstarterv1.LabelSelectorRequirement{{Key: "ram", Operator: "NotIn", Values: []string{"2g", "1g"}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if lease.Spec.ClientRef.Name != "alice" || lease.Spec.Duration.Duration != time.Hour || lease.Labels["board"] != "rpi4" ||
		!reflect.DeepEqual(lease.Spec.Selector.MatchExpressions, []metav1.LabelSelectorRequirement{req("ram", metav1.LabelSelectorOpNotIn, "1g", "2g")}) {
		t.Errorf("legacy lease: %#v", lease)
	}
	tests := []struct {
		name  string
		req   *jumpstarterv1.RequestLeaseRequest
		parts []string
	}{
		{"no selector", &jumpstarterv1.RequestLeaseRequest{Duration: durationpb.New(time.Hour)}, []string{"selector: required"}},
		{"bad operator", &jumpstarterv1.RequestLeaseRequest{Duration: durationpb.New(time.Hour), Selector: &jumpstarterv1.LabelSelector{
			MatchExpressions: []*jumpstarterv1.LabelSelectorRequirement{{Key: "a", Operator: "Gt", Values: []string{"1"}}}}},
			[]string{"selector.matchExpressions[0].operator"}},
		{"no duration", &jumpstarterv1.RequestLeaseRequest{Selector: &jumpstarterv1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}},
			[]string{"duration: required"}},
		{"negative duration", &jumpstarterv1.RequestLeaseRequest{Duration: durationpb.New(-time.Hour),
			Selector: &jumpstarterv1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}}, []string{"duration", "positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewLegacyLease("lab", "l1", "alice", tt.req)
			wantStatus(t, err, codes.InvalidArgument, tt.parts...)
		})
	}
}

func TestLeaseLabels(t *testing.T) {
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{
		"board": "rpi4", "metadata.jumpstarter.dev/team": "spoof", "jumpstarter.dev/lease-ended": "true",
	}}
	got := LeaseLabels(sel, map[string]string{"team": "qa"})
	want := map[string]string{"board": "rpi4", "metadata.jumpstarter.dev/team": "qa"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LeaseLabels = %v, want %v", got, want)
	}
}

// testLease is a lease of alice in namespace lab; granted leases hold board1 since start.
func testLease(granted bool, mutate ...func(*jumpstarterv1alpha1.Lease)) *jumpstarterv1alpha1.Lease {
	lease := &jumpstarterv1alpha1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "l1"},
		Spec: jumpstarterv1alpha1.LeaseSpec{
			ClientRef: corev1.LocalObjectReference{Name: "alice"},
			Selector:  metav1.LabelSelector{MatchLabels: map[string]string{"board": "rpi4"}},
			Duration:  &metav1.Duration{Duration: time.Hour},
		},
	}
	if granted {
		lease.Status.ExporterRef = &corev1.LocalObjectReference{Name: "board1"}
		lease.Status.BeginTime = ptrTo(metav1.NewMicroTime(t0))
	}
	for _, m := range mutate {
		m(lease)
	}
	return lease
}

func TestParseUpdate(t *testing.T) {
	d := durationpb.New(2 * time.Hour)
	tests := []struct {
		name  string
		req   *clientv1.UpdateLeaseRequest
		want  Update
		code  codes.Code
		parts []string
	}{
		{"presence", &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Duration: d, Client: ptr.To("namespaces/lab/clients/bob")}},
			Update{Times: Times{Duration: dur(2 * time.Hour)}, Client: "bob"}, codes.OK, nil},
		{"empty client is unset", &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Client: ptr.To("")}}, Update{}, codes.OK, nil},
		{"mask restricts", &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Duration: d, EndTime: timestamppb.New(t0),
			Client: ptr.To("namespaces/lab/clients/bob")}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"end_time"}}},
			Update{Times: Times{End: &t0}}, codes.OK, nil},
		{"wildcard mask", &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Duration: d}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"*"}}},
			Update{Times: Times{Duration: dur(2 * time.Hour)}}, codes.OK, nil},
		{"immutable path", &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"selector"}}},
			Update{}, codes.InvalidArgument, []string{"update_mask", `"selector" is immutable`}},
		{"unknown path", &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"conditions"}}},
			Update{}, codes.InvalidArgument, []string{"update_mask", "not an updatable field"}},
		{"no lease", &clientv1.UpdateLeaseRequest{}, Update{}, codes.InvalidArgument, []string{"lease: required"}},
		{"bad client", &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Client: ptr.To("bob")}}, Update{}, codes.InvalidArgument, []string{"lease.client"}},
		{"other namespace", &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Client: ptr.To("namespaces/other/clients/bob")}},
			Update{}, codes.InvalidArgument, []string{"lease.client", "another namespace"}},
		{"bad duration", &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Duration: durationpb.New(0)}}, Update{}, codes.InvalidArgument,
			[]string{"lease.duration"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUpdate(tt.req, "lab")
			wantStatus(t, err, tt.code, tt.parts...)
			if err == nil {
				checkTimes(t, got.Times, tt.want.Times)
				if got.Client != tt.want.Client {
					t.Errorf("client = %q, want %q", got.Client, tt.want.Client)
				}
			}
		})
	}
}

func TestApplyUpdate(t *testing.T) {
	longer := Update{Times: Times{Duration: dur(2 * time.Hour)}}
	toBob := Update{Client: "bob"}
	tests := []struct {
		name   string
		lease  *jumpstarterv1alpha1.Lease
		caller string
		update Update
		check  func(*jumpstarterv1alpha1.Lease) bool
		code   codes.Code
		parts  []string
	}{
		{"extend", testLease(true), "alice", longer, func(l *jumpstarterv1alpha1.Lease) bool { return l.Spec.Duration.Duration == 2*time.Hour }, codes.OK, nil},
		{"transfer", testLease(true), "alice", toBob, func(l *jumpstarterv1alpha1.Lease) bool { return l.Spec.ClientRef.Name == "bob" }, codes.OK, nil},
		{"transfer to the owner is a no-op", testLease(false), "alice", Update{Client: "alice"},
			func(l *jumpstarterv1alpha1.Lease) bool { return l.Spec.ClientRef.Name == "alice" }, codes.OK, nil},
		{"not the owner", testLease(true), "mallory", longer, nil, codes.PermissionDenied, []string{"permission denied", `"namespaces/lab/leases/l1"`}},
		{"not the owner, empty update", testLease(true), "mallory", Update{}, nil, codes.PermissionDenied, []string{"permission denied"}},
		{"ended", testLease(true, func(l *jumpstarterv1alpha1.Lease) { l.Status.Ended = true }), "alice", longer, nil,
			codes.FailedPrecondition, []string{"has already ended"}},
		{"released", testLease(true, func(l *jumpstarterv1alpha1.Lease) { l.Spec.Release = true }), "alice", toBob, nil,
			codes.FailedPrecondition, []string{"has already been released"}},
		{"transfer while pending", testLease(false), "alice", toBob, nil, codes.FailedPrecondition, []string{"not active"}},
		{"transfer while pending, with times", testLease(false), "alice", Update{Client: "bob", Times: longer.Times}, nil,
			codes.FailedPrecondition, []string{"not active"}},
		{"begin after start", testLease(true), "alice", Update{Times: Times{Begin: at(time.Hour)}}, nil,
			codes.FailedPrecondition, []string{"begin_time"}},
		{"begin before start", testLease(false), "alice", Update{Times: Times{Begin: at(time.Hour)}},
			func(l *jumpstarterv1alpha1.Lease) bool { return l.Spec.BeginTime.Time.Equal(t0.Add(time.Hour)) }, codes.OK, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.lease.DeepCopy()
			err := ApplyUpdate(tt.lease, tt.caller, tt.update)
			wantStatus(t, err, tt.code, tt.parts...)
			if err != nil {
				if !reflect.DeepEqual(before, tt.lease) {
					t.Errorf("lease changed although the update failed")
				}
				return
			}
			if !tt.check(tt.lease) {
				t.Errorf("lease after update: %#v", tt.lease.Spec)
			}
		})
	}
}

func TestRelease(t *testing.T) {
	lease := testLease(true)
	wantStatus(t, Release(lease, "namespaces/lab/leases/l1"), codes.OK)
	if !lease.Spec.Release {
		t.Fatal("lease not marked for release")
	}
	wantStatus(t, Release(lease, "namespaces/lab/leases/l1"), codes.FailedPrecondition)
	if err := Release(lease, "namespaces/lab/leases/l1"); err.Error() != `rpc error: code = FailedPrecondition desc = lease "namespaces/lab/leases/l1" has already been released` {
		t.Errorf("message: %v", err)
	}

	if !ReleaseIdempotent(testLease(true)) {
		t.Error("ReleaseIdempotent of an active lease changed nothing")
	}
	if ReleaseIdempotent(lease) || ReleaseIdempotent(testLease(true, func(l *jumpstarterv1alpha1.Lease) { l.Status.Ended = true })) {
		t.Error("ReleaseIdempotent changed a released or ended lease")
	}
}

func TestCheckOwnerAndHolder(t *testing.T) {
	what := `lease "l1"`
	wantStatus(t, CheckOwner(testLease(true), "alice", what), codes.OK)
	wantStatus(t, CheckOwner(testLease(true), "bob", what), codes.PermissionDenied, "permission denied", what)
	wantStatus(t, CheckHolder(testLease(true), "board1", what), codes.OK)
	wantStatus(t, CheckHolder(testLease(true), "board2", what), codes.FailedPrecondition, `is not held by exporter "board2"`)
	wantStatus(t, CheckHolder(testLease(false), "board1", what), codes.FailedPrecondition, what)
}
