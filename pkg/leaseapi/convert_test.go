package leaseapi

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

func condition(condType string, s metav1.ConditionStatus, reason string, at time.Time) metav1.Condition {
	return metav1.Condition{Type: condType, Status: s, Reason: reason, Message: reason + " message", ObservedGeneration: 2,
		LastTransitionTime: metav1.NewTime(at)}
}

func protoCondition(condType, s, reason string, at time.Time) *jumpstarterv1.Condition {
	return &jumpstarterv1.Condition{Type: ptr.To(condType), Status: ptr.To(s), Reason: ptr.To(reason), Message: ptr.To(reason + " message"),
		ObservedGeneration: ptr.To(int64(2)), LastTransitionTime: &jumpstarterv1.Time{Seconds: ptr.To(at.Unix()), Nanos: ptr.To(int32(0))}}
}

func TestToLease(t *testing.T) {
	now := t0.Add(20 * time.Minute)
	pending := condition("Pending", metav1.ConditionTrue, "NotAvailable", t0)
	tests := []struct {
		name  string
		lease *jumpstarterv1alpha1.Lease
		want  *clientv1.Lease
	}{
		{"waiting", testLease(false, func(l *jumpstarterv1alpha1.Lease) {
			l.Status.Conditions = []metav1.Condition{pending}
			l.Spec.Tags = map[string]string{"team": "qa"}
			l.Spec.Context = map[string]string{"build": "1"}
		}), &clientv1.Lease{
			Name: "namespaces/lab/leases/l1", Selector: "board=rpi4", Duration: durationpb.New(time.Hour),
			Client: ptr.To("namespaces/lab/clients/alice"), Tags: map[string]string{"team": "qa"}, Context: map[string]string{"build": "1"},
			Conditions: []*jumpstarterv1.Condition{protoCondition("Pending", "True", "NotAvailable", t0)},
		}},
		{"granted", testLease(true, func(l *jumpstarterv1alpha1.Lease) {
			l.Status.Conditions = []metav1.Condition{
				condition("Pending", metav1.ConditionFalse, "Granted", t0), condition("Ready", metav1.ConditionTrue, "Ready", t0),
			}
		}), &clientv1.Lease{
			Name: "namespaces/lab/leases/l1", Selector: "board=rpi4", Duration: durationpb.New(time.Hour),
			Client: ptr.To("namespaces/lab/clients/alice"), Exporter: ptr.To("namespaces/lab/exporters/board1"),
			EffectiveBeginTime: timestamppb.New(t0), EffectiveDuration: durationpb.New(20 * time.Minute),
			Conditions: []*jumpstarterv1.Condition{
				protoCondition("Pending", "False", "Granted", t0), protoCondition("Ready", "True", "Ready", t0),
			},
		}},
		{"ended after start", testLease(true, func(l *jumpstarterv1alpha1.Lease) {
			l.Status.Ended = true
			l.Status.EndTime = ptrTo(metav1.NewMicroTime(t0.Add(10 * time.Minute)))
		}), &clientv1.Lease{
			Name: "namespaces/lab/leases/l1", Selector: "board=rpi4", Duration: durationpb.New(time.Hour),
			Client: ptr.To("namespaces/lab/clients/alice"), Exporter: ptr.To("namespaces/lab/exporters/board1"),
			EffectiveBeginTime: timestamppb.New(t0), EffectiveEndTime: timestamppb.New(t0.Add(10 * time.Minute)),
			EffectiveDuration: durationpb.New(10 * time.Minute),
		}},
		{"ended before start, pinned, scheduled", testLease(false, func(l *jumpstarterv1alpha1.Lease) {
			l.Spec.Selector = metav1.LabelSelector{}
			l.Spec.ExporterRef = &corev1.LocalObjectReference{Name: "board9"}
			l.Spec.AllowDisabled = true
			l.Spec.BeginTime = ptrTo(metav1.NewTime(t0))
			l.Spec.EndTime = ptrTo(metav1.NewTime(t0.Add(time.Hour)))
			l.Status.Ended = true
		}), &clientv1.Lease{
			Name: "namespaces/lab/leases/l1", Selector: "<none>", Duration: durationpb.New(time.Hour),
			BeginTime: timestamppb.New(t0), EndTime: timestamppb.New(t0.Add(time.Hour)),
			Client: ptr.To("namespaces/lab/clients/alice"), ExporterName: ptr.To("board9"), AllowDisabled: true,
		}},
		{"clock skew", testLease(true, func(l *jumpstarterv1alpha1.Lease) {
			l.Status.BeginTime = ptrTo(metav1.NewMicroTime(now.Add(time.Minute)))
		}), &clientv1.Lease{
			Name: "namespaces/lab/leases/l1", Selector: "board=rpi4", Duration: durationpb.New(time.Hour),
			Client: ptr.To("namespaces/lab/clients/alice"), Exporter: ptr.To("namespaces/lab/exporters/board1"),
			EffectiveBeginTime: timestamppb.New(now.Add(time.Minute)), EffectiveDuration: durationpb.New(0),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ToLease(tt.lease, now); !proto.Equal(got, tt.want) {
				t.Errorf("ToLease =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

func TestToGetLeaseResponse(t *testing.T) {
	lease := testLease(true, func(l *jumpstarterv1alpha1.Lease) {
		l.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{req("ram", metav1.LabelSelectorOpIn, "1g")}
		l.Status.Conditions = []metav1.Condition{condition("Ready", metav1.ConditionTrue, "Ready", t0)}
	})
	want := &jumpstarterv1.GetLeaseResponse{
		Duration: durationpb.New(time.Hour),
		Selector: &jumpstarterv1.LabelSelector{MatchLabels: map[string]string{"board": "rpi4"},
			MatchExpressions: []*jumpstarterv1.LabelSelectorRequirement{{Key: "ram", Operator: "In", Values: []string{"1g"}}}},
		BeginTime:    timestamppb.New(t0),
		ExporterUuid: ptr.To("uid-1"),
		Conditions:   []*jumpstarterv1.Condition{protoCondition("Ready", "True", "Ready", t0)},
	}
	if got := ToGetLeaseResponse(lease, "uid-1"); !proto.Equal(got, want) {
		t.Errorf("ToGetLeaseResponse =\n%v\nwant\n%v", got, want)
	}
	if got := ToGetLeaseResponse(testLease(false), "uid-1"); got.ExporterUuid != nil || got.BeginTime != nil {
		t.Errorf("waiting lease: %v", got)
	}
}

func TestToExporter(t *testing.T) {
	now := t0
	online := func(e *jumpstarterv1alpha1.Exporter) {
		e.Status.Conditions = []metav1.Condition{
			{Type: jumpstarterv1alpha1.ExporterConditionRegistered, Status: metav1.ConditionTrue},
			{Type: jumpstarterv1alpha1.ExporterConditionOnline, Status: metav1.ConditionTrue},
		}
		e.Status.LastSeen = ptrTo(metav1.NewTime(now.Add(-10 * time.Second)))
		e.Status.ExporterStatusValue = jumpstarterv1alpha1.ExporterStatusLeaseReady
		e.Status.StatusMessage = "Ready for commands"
	}
	tests := []struct {
		name   string
		mutate func(*jumpstarterv1alpha1.Exporter)
		want   *clientv1.Exporter
	}{
		{"online", online, &clientv1.Exporter{Name: "namespaces/lab/exporters/board1", Labels: map[string]string{"board": "rpi4"},
			Online: true, Status: jumpstarterv1.ExporterStatus_EXPORTER_STATUS_LEASE_READY, StatusMessage: "Ready for commands", Enabled: ptr.To(true)}},
		{"stale and disabled", func(e *jumpstarterv1alpha1.Exporter) {
			online(e)
			e.Status.LastSeen = ptrTo(metav1.NewTime(now.Add(-2 * time.Minute)))
			e.Spec.Enabled = ptr.To(false)
		}, &clientv1.Exporter{Name: "namespaces/lab/exporters/board1", Labels: map[string]string{"board": "rpi4"},
			Status: jumpstarterv1.ExporterStatus_EXPORTER_STATUS_LEASE_READY, StatusMessage: "Ready for commands", Enabled: ptr.To(false)}},
		{"never registered", func(*jumpstarterv1alpha1.Exporter) {}, &clientv1.Exporter{Name: "namespaces/lab/exporters/board1",
			Labels: map[string]string{"board": "rpi4"}, Enabled: ptr.To(true)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &jumpstarterv1alpha1.Exporter{ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "board1", Labels: map[string]string{"board": "rpi4"}}}
			tt.mutate(e)
			if got := ToExporter(e, now); !proto.Equal(got, tt.want) {
				t.Errorf("ToExporter =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

func TestExporterStatus(t *testing.T) {
	for value, want := range map[string]jumpstarterv1.ExporterStatus{
		"":                      jumpstarterv1.ExporterStatus_EXPORTER_STATUS_UNSPECIFIED,
		"Bogus":                 jumpstarterv1.ExporterStatus_EXPORTER_STATUS_UNSPECIFIED,
		"Offline":               jumpstarterv1.ExporterStatus_EXPORTER_STATUS_OFFLINE,
		"Available":             jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE,
		"AfterLeaseHookFailed":  jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AFTER_LEASE_HOOK_FAILED,
		"BeforeLeaseHookFailed": jumpstarterv1.ExporterStatus_EXPORTER_STATUS_BEFORE_LEASE_HOOK_FAILED,
	} {
		if got := ExporterStatus(value); got != want {
			t.Errorf("ExporterStatus(%q) = %s, want %s", value, got, want)
		}
	}
}
