package virtualnode

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestNodeNameIsValidAndCollisionFree(t *testing.T) {
	pairs := [][2]string{
		{"a-b", "c"}, {"a", "b-c"}, {"a", "b.c"}, {"lab", "rpi4-01"},
		{strings.Repeat("n", 63), strings.Repeat("x", 253)}, {strings.Repeat("n", 63), strings.Repeat("x", 252) + "y"},
	}
	seen := map[string][2]string{}
	for _, p := range pairs {
		name := NodeName(p[0], p[1])
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			t.Errorf("NodeName(%q, %q) = %q is not a valid node name: %v", p[0], p[1], name, errs)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("NodeName collision: %v and %v -> %q", other, p, name)
		}
		seen[name] = p
	}
}

func exporter(online bool, lastSeenAgo time.Duration, status string) *jumpstarterv1alpha1.Exporter {
	e := &jumpstarterv1alpha1.Exporter{ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "e1"}}
	cond := metav1.ConditionFalse
	if online {
		cond = metav1.ConditionTrue
	}
	e.Status.Conditions = []metav1.Condition{
		{Type: jumpstarterv1alpha1.ExporterConditionRegistered, Status: metav1.ConditionTrue},
		{Type: jumpstarterv1alpha1.ExporterConditionOnline, Status: cond},
	}
	e.Status.LastSeen = &metav1.Time{Time: now.Add(-lastSeenAgo)}
	e.Status.ExporterStatusValue = status
	return e
}

func TestIsOnline(t *testing.T) {
	tests := []struct {
		name     string
		exporter *jumpstarterv1alpha1.Exporter
		want     bool
	}{
		{"fresh and online", exporter(true, time.Second, jumpstarterv1alpha1.ExporterStatusAvailable), true},
		{"says offline", exporter(true, time.Second, jumpstarterv1alpha1.ExporterStatusOffline), false},
		{"condition false", exporter(false, time.Second, ""), false},
		{"stale", exporter(true, OnlineTimeout, ""), false},
		{"never seen", &jumpstarterv1alpha1.Exporter{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsOnline(tt.exporter, now); got != tt.want {
				t.Errorf("IsOnline = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDesiredLabels(t *testing.T) {
	e := &jumpstarterv1alpha1.Exporter{ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "e1", Labels: map[string]string{
		"board": "rpi4", jumpstarterv1alpha1.LabelExporterName: "spoofed", "kubernetes.io/os": "linux",
	}}}
	got := desiredLabels(e, "exporter-lab.e1")
	if got["board"] != "rpi4" || got[jumpstarterv1alpha1.LabelExporterName] != "e1" || got[jumpstarterv1alpha1.LabelExporterNamespace] != "lab" {
		t.Errorf("labels %v", got)
	}
	if _, ok := got["kubernetes.io/os"]; ok {
		t.Errorf("system label copied from the exporter: %v", got)
	}

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"old": "x", "node.kubernetes.io/exclude": ""}}}
	if !syncLabels(node, got) {
		t.Fatalf("syncLabels reported no change")
	}
	if _, ok := node.Labels["old"]; ok {
		t.Errorf("stale exporter label kept: %v", node.Labels)
	}
	if _, ok := node.Labels["node.kubernetes.io/exclude"]; !ok {
		t.Errorf("system label removed: %v", node.Labels)
	}
	if syncLabels(node, got) {
		t.Errorf("second sync changed something")
	}
}

func TestEnsureTaintKeepsLifecycleTaints(t *testing.T) {
	node := &corev1.Node{Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}}}}
	if !ensureTaint(node) || ensureTaint(node) {
		t.Fatalf("ensureTaint is not idempotent")
	}
	if len(node.Spec.Taints) != 2 {
		t.Errorf("taints %v", node.Spec.Taints)
	}
}

func TestSyncStatus(t *testing.T) {
	ready := func(status corev1.ConditionStatus, reason string) *corev1.Node {
		return &corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, Reason: reason}}}}
	}
	tests := []struct {
		name            string
		node            *corev1.Node
		online, enabled bool
		wantStatus      corev1.ConditionStatus
		wantReason      string
	}{
		{"new online", &corev1.Node{}, true, true, corev1.ConditionTrue, jumpstarterv1alpha1.NodeReasonExporterReady},
		{"online disabled", ready(corev1.ConditionTrue, ""), true, false, corev1.ConditionFalse, jumpstarterv1alpha1.NodeReasonExporterDisabled},
		{"goes offline", ready(corev1.ConditionTrue, ""), false, true, corev1.ConditionFalse, jumpstarterv1alpha1.NodeReasonExporterOffline},
		{"offline leaves lifecycle's Unknown alone", ready(corev1.ConditionUnknown, "NodeStatusUnknown"), false, true, corev1.ConditionUnknown, "NodeStatusUnknown"},
		{"back online", ready(corev1.ConditionUnknown, "NodeStatusUnknown"), true, true, corev1.ConditionTrue, jumpstarterv1alpha1.NodeReasonExporterReady},
		{"disabled goes offline", ready(corev1.ConditionFalse, jumpstarterv1alpha1.NodeReasonExporterDisabled), false, false, corev1.ConditionFalse, jumpstarterv1alpha1.NodeReasonExporterOffline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			syncStatus(tt.node, tt.online, tt.enabled, now)
			c := *findNodeCondition(tt.node, corev1.NodeReady)
			if online := findNodeCondition(tt.node, jumpstarterv1alpha1.NodeConditionExporterOnline); online == nil ||
				(online.Status == corev1.ConditionTrue) != tt.online {
				t.Errorf("ExporterOnline = %+v, want online=%v", online, tt.online)
			}
			if c.Status != tt.wantStatus || c.Reason != tt.wantReason {
				t.Errorf("Ready = %s/%s, want %s/%s", c.Status, c.Reason, tt.wantStatus, tt.wantReason)
			}
			exporterQty := tt.node.Status.Allocatable[jumpstarterv1alpha1.ResourceExporter]
			if exporterQty.Value() != 1 {
				t.Errorf("allocatable %v", tt.node.Status.Allocatable)
			}
			if syncStatus(tt.node, tt.online, tt.enabled, now) {
				t.Errorf("second sync changed something")
			}
		})
	}
}
