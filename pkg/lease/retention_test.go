package lease

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/virtualnode"
)

// TestEndedLeaseIsDeletedAfterItsRetention: an ended lease is labelled, then kept for the
// retention from its end, then deleted; without a retention it is kept.
func TestEndedLeaseIsDeletedAfterItsRetention(t *testing.T) {
	const retention = time.Hour
	tests := []struct {
		name      string
		retention time.Duration
		granted   bool
		// sinceEnd is how long after the end the lease is looked at once labelled.
		sinceEnd    time.Duration
		wantDeleted bool
		wantRequeue time.Duration
	}{
		{name: "kept: no retention", granted: true, sinceEnd: 30 * 24 * time.Hour},
		{name: "granted, within the retention", retention: retention, granted: true, sinceEnd: 10 * time.Minute, wantRequeue: 50 * time.Minute},
		{name: "granted, retention over", retention: retention, granted: true, sinceEnd: retention, wantDeleted: true},
		{name: "released before any grant, within", retention: retention, sinceEnd: 59 * time.Minute, wantRequeue: time.Minute},
		{name: "released before any grant, over", retention: retention, sinceEnd: 2 * retention, wantDeleted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e1 := exporter("e1", map[string]string{"board": "rpi4"}, true, true)
			lease := newLease("l1", func(l *jumpstarterv1alpha1.Lease) { l.Spec.Selector.MatchLabels = map[string]string{"board": "rpi4"} })
			h := newHarness(t, &e1, lease, virtualNode("lab", "e1"))
			h.rec.EndedRetention = tt.retention
			h.reconcile("l1")
			if tt.granted {
				h.bindAndAccept("l1", virtualnode.NodeName("lab", "e1"))
				h.reconcile("l1")
			}
			l := h.lease("l1")
			l.Spec.Release = true
			if err := h.client.Update(t.Context(), l); err != nil {
				t.Fatal(err)
			}
			h.reconcile("l1") // the end
			ended := h.lease("l1")
			if !ended.Status.Ended || (ended.Status.EndTime != nil) != tt.granted {
				t.Fatalf("not ended as expected: %+v", ended.Status)
			}
			h.reconcile("l1") // the label
			h.clock.Step(tt.sinceEnd)
			res := h.reconcile("l1")
			err := h.client.Get(t.Context(), clientKey("l1"), &jumpstarterv1alpha1.Lease{})
			if deleted := err != nil; deleted != tt.wantDeleted {
				t.Fatalf("deleted = %v (%v), want %v", deleted, err, tt.wantDeleted)
			}
			if res.RequeueAfter != tt.wantRequeue {
				t.Errorf("requeue after %v, want %v", res.RequeueAfter, tt.wantRequeue)
			}
			if tt.wantDeleted {
				if res := h.reconcile("l1"); !res.IsZero() {
					t.Errorf("reconcile of the deleted lease: %+v", res)
				}
			}
		})
	}
}

func TestEndedAt(t *testing.T) {
	at := func(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(d)) }
	micro := metav1.NewMicroTime(now.Add(3 * time.Minute))
	tests := []struct {
		name  string
		lease func(*jumpstarterv1alpha1.Lease)
		want  time.Time
	}{
		{"end time", func(l *jumpstarterv1alpha1.Lease) {
			l.Status.EndTime = &micro
			l.Status.Conditions = []metav1.Condition{{Type: "Ready", LastTransitionTime: at(time.Hour)}}
		}, micro.Time},
		{"latest condition", func(l *jumpstarterv1alpha1.Lease) {
			l.Status.Conditions = []metav1.Condition{{Type: "Pending", LastTransitionTime: at(time.Minute)}, {Type: "Invalid", LastTransitionTime: at(2 * time.Minute)}}
		}, now.Add(2 * time.Minute)},
		{"creation", func(l *jumpstarterv1alpha1.Lease) { l.CreationTimestamp = at(-time.Minute) }, now.Add(-time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := endedAt(newLease("l1", tt.lease)); !got.Equal(tt.want) {
				t.Errorf("endedAt = %v, want %v", got, tt.want)
			}
		})
	}
}

func clientKey(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: "lab", Name: name}
}
