package demo

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"jumpstarter.dev/service/apis/v1alpha1"
)

func TestHeartbeatStatus(t *testing.T) {
	earlier := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	now := time.Date(2026, 1, 1, 0, 10, 0, 0, time.UTC)
	existing := []metav1.Condition{
		{Type: v1alpha1.ExporterConditionRegistered, Status: metav1.ConditionTrue, LastTransitionTime: earlier},
		{Type: v1alpha1.ExporterConditionOnline, Status: metav1.ConditionFalse, LastTransitionTime: earlier},
	}
	s := heartbeatStatus(existing, 3, now)
	if s.ExporterStatusValue != v1alpha1.ExporterStatusAvailable || s.LastSeen == nil || !s.LastSeen.Time.Equal(now) {
		t.Errorf("status %+v", s)
	}
	reg := meta.FindStatusCondition(s.Conditions, v1alpha1.ExporterConditionRegistered)
	online := meta.FindStatusCondition(s.Conditions, v1alpha1.ExporterConditionOnline)
	if reg == nil || online == nil || reg.Status != metav1.ConditionTrue || online.Status != metav1.ConditionTrue {
		t.Fatalf("conditions %+v", s.Conditions)
	}
	if !reg.LastTransitionTime.Equal(&earlier) {
		t.Errorf("Registered stayed True but its transition time moved to %s", reg.LastTransitionTime)
	}
	if !online.LastTransitionTime.Time.Equal(now) {
		t.Errorf("Online became True at %s, want %s", online.LastTransitionTime, now)
	}
	if reg.ObservedGeneration != 3 || reg.Reason == "" {
		t.Errorf("condition %+v", reg)
	}
}

func TestToApplyObject(t *testing.T) {
	e := &v1alpha1.Exporter{
		TypeMeta:   typeMeta("Exporter"),
		ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: Namespace},
		Status:     v1alpha1.ExporterStatus{ExporterStatusValue: v1alpha1.ExporterStatusAvailable},
	}
	u, err := toApplyObject(e, "status")
	if err != nil {
		t.Fatal(err)
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(u.Object, "status"); found {
		t.Error("status kept in a spec apply")
	}
	if _, found, _ := unstructured.NestedFieldNoCopy(u.Object, "metadata", "creationTimestamp"); found {
		t.Error("creationTimestamp kept")
	}
	if u.GetAPIVersion() != "jumpstarter.dev/v1alpha1" || u.GetKind() != "Exporter" {
		t.Errorf("type %s %s", u.GetAPIVersion(), u.GetKind())
	}
}
