package lease

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/accesspolicy"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func exporter(name string, labels map[string]string, online, enabled bool) jumpstarterv1alpha1.Exporter {
	e := jumpstarterv1alpha1.Exporter{
		ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: name, Labels: labels},
		Spec:       jumpstarterv1alpha1.ExporterSpec{Enabled: ptr.To(enabled)},
	}
	if online {
		e.Status.Conditions = []metav1.Condition{
			{Type: jumpstarterv1alpha1.ExporterConditionRegistered, Status: metav1.ConditionTrue},
			{Type: jumpstarterv1alpha1.ExporterConditionOnline, Status: metav1.ConditionTrue},
		}
		e.Status.LastSeen = &metav1.Time{Time: now.Add(-5 * time.Second)}
	}
	return e
}

func TestJudge(t *testing.T) {
	rpi := map[string]string{"board": "rpi4"}
	bySelector := func(l *jumpstarterv1alpha1.Lease) { l.Spec.Selector.MatchLabels = rpi }
	pinned := func(name string) func(*jumpstarterv1alpha1.Lease) {
		return func(l *jumpstarterv1alpha1.Lease) { l.Spec.ExporterRef = &corev1.LocalObjectReference{Name: name} }
	}
	tests := []struct {
		name      string
		lease     func(*jumpstarterv1alpha1.Lease)
		exporters []jumpstarterv1alpha1.Exporter
		wantFinal bool
		reason    string
	}{
		{"no exporter matches", bySelector, []jumpstarterv1alpha1.Exporter{exporter("e1", map[string]string{"board": "jetson"}, true, true)}, true, jumpstarterv1alpha1.LeaseReasonNoMatchingExporter},
		{"all matching disabled", bySelector, []jumpstarterv1alpha1.Exporter{exporter("e1", rpi, true, false)}, true, jumpstarterv1alpha1.LeaseReasonAllDisabled},
		{"matching but offline", bySelector, []jumpstarterv1alpha1.Exporter{exporter("e1", rpi, false, true)}, false, jumpstarterv1alpha1.LeaseReasonOffline},
		{"matching and online", bySelector, []jumpstarterv1alpha1.Exporter{exporter("e1", rpi, true, true)}, false, jumpstarterv1alpha1.LeaseReasonNotAvailable},
		{"pinned missing", pinned("e9"), []jumpstarterv1alpha1.Exporter{exporter("e1", rpi, true, true)}, true, jumpstarterv1alpha1.LeaseReasonExporterNotFound},
		{"pinned disabled", pinned("e1"), []jumpstarterv1alpha1.Exporter{exporter("e1", rpi, true, false)}, true, jumpstarterv1alpha1.LeaseReasonExporterDisabled},
		{"pinned disabled but allowed", func(l *jumpstarterv1alpha1.Lease) { pinned("e1")(l); l.Spec.AllowDisabled = true },
			[]jumpstarterv1alpha1.Exporter{exporter("e1", rpi, true, false)}, false, jumpstarterv1alpha1.LeaseReasonNotAvailable},
		{"pinned selector mismatch", func(l *jumpstarterv1alpha1.Lease) {
			pinned("e1")(l)
			l.Spec.Selector.MatchLabels = map[string]string{"board": "x"}
		},
			[]jumpstarterv1alpha1.Exporter{exporter("e1", rpi, true, true)}, true, jumpstarterv1alpha1.LeaseReasonSelectorMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := judge(newLease("l1", tt.lease), tt.exporters, accesspolicy.Access{}, now)
			if v.unsatisfiable != tt.wantFinal || v.reason != tt.reason {
				t.Errorf("judge = %+v, want unsatisfiable=%v reason=%s", v, tt.wantFinal, tt.reason)
			}
			if v.message == "" {
				t.Errorf("verdict has no message")
			}
		})
	}
}

func TestJudgeUnderAccessPolicies(t *testing.T) {
	rpi := map[string]string{"board": "rpi4"}
	policies := []jumpstarterv1alpha1.ExporterAccessPolicy{{
		ObjectMeta: metav1.ObjectMeta{Name: "rpi"},
		Spec: jumpstarterv1alpha1.ExporterAccessPolicySpec{
			ExporterSelector: metav1.LabelSelector{MatchLabels: rpi},
			Policies: []jumpstarterv1alpha1.Policy{{
				Priority:        10,
				MaximumDuration: &metav1.Duration{Duration: time.Hour},
				From:            []jumpstarterv1alpha1.From{{ClientSelector: metav1.LabelSelector{MatchLabels: map[string]string{"team": "ci"}}}},
			}},
		},
	}}
	tests := []struct {
		name     string
		client   map[string]string
		duration time.Duration
		online   bool
		reason   string
		message  string // substring
	}{
		{"approved, online", map[string]string{"team": "ci"}, time.Hour, true, jumpstarterv1alpha1.LeaseReasonNotAvailable, "all 1 online"},
		{"approved, offline", map[string]string{"team": "ci"}, time.Hour, false, jumpstarterv1alpha1.LeaseReasonOffline, "none of the 1"},
		{"other client", map[string]string{"team": "dev"}, time.Hour, true, jumpstarterv1alpha1.LeaseReasonNoAccess,
			"none of the 1 exporters matching selector board=rpi4 is open to client alice under the access policies of namespace lab"},
		{"too long", map[string]string{"team": "ci"}, 2 * time.Hour, true, jumpstarterv1alpha1.LeaseReasonNoAccess,
			"exporteraccesspolicy rpi spec.policies[0] allows leases of at most 1h0m0s, this one is for 2h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			access, err := accesspolicy.ForClient(policies, tt.client)
			if err != nil {
				t.Fatal(err)
			}
			lease := newLease("l1", func(l *jumpstarterv1alpha1.Lease) {
				l.Spec.ClientRef.Name = "alice"
				l.Spec.Selector.MatchLabels = rpi
				l.Spec.Duration = &metav1.Duration{Duration: tt.duration}
			})
			v := judge(lease, []jumpstarterv1alpha1.Exporter{exporter("e1", rpi, tt.online, true)}, access, now)
			if v.reason != tt.reason || !strings.Contains(v.message, tt.message) {
				t.Errorf("judge = %+v, want reason %s, message with %q", v, tt.reason, tt.message)
			}
			if v.unsatisfiable != (tt.reason == jumpstarterv1alpha1.LeaseReasonNoAccess) {
				t.Errorf("unsatisfiable = %v", v.unsatisfiable)
			}
			if !v.unsatisfiable && (v.access.Priority != 10 || len(v.access.ExporterSelectors) != 1) {
				t.Errorf("access decision %+v, want priority 10 on the policy's exporters", v.access)
			}
		})
	}
}

func TestValidateSelectorNamesTheField(t *testing.T) {
	tests := []struct {
		name  string
		lease func(*jumpstarterv1alpha1.Lease)
		want  string // substring of the error; "" means valid
	}{
		{"valid", func(l *jumpstarterv1alpha1.Lease) { l.Spec.Selector.MatchLabels = map[string]string{"a": "b"} }, ""},
		{"empty without ref", nil, "spec.selector"},
		{"empty with ref", func(l *jumpstarterv1alpha1.Lease) { l.Spec.ExporterRef = &corev1.LocalObjectReference{Name: "e"} }, ""},
		{"bad operator", func(l *jumpstarterv1alpha1.Lease) {
			l.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}
		}, "spec.selector.matchExpressions[0].operator"},
		{"bad value", func(l *jumpstarterv1alpha1.Lease) { l.Spec.Selector.MatchLabels = map[string]string{"a": "not valid!"} }, "spec.selector.matchLabels"},
		{"In without values", func(l *jumpstarterv1alpha1.Lease) {
			l.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "a", Operator: metav1.LabelSelectorOpIn}}
		}, "spec.selector.matchExpressions[0].values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateSelector(newLease("l1", tt.lease))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("error %v does not name %s", err, tt.want)
			}
		})
	}
}
