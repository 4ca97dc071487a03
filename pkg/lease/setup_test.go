package lease

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// TestPlaceholderEvents checks which placeholder events wake the lease, and how urgently.
func TestPlaceholderEvents(t *testing.T) {
	owned := func(mutate func(*corev1.Pod)) *corev1.Pod {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Namespace: "lab", Name: "lease-l1",
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: jumpstarterv1alpha1.GroupVersion.String(), Kind: "Lease", Name: "l1", UID: "u1", Controller: ptr.To(true),
			}},
		}}
		if mutate != nil {
			mutate(pod)
		}
		return pod
	}
	running := func(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning }
	bound := func(p *corev1.Pod) { p.Spec.NodeName = "exporter-lab.e1" }
	deleting := func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.Now()) }
	foreign := func(p *corev1.Pod) { p.OwnerReferences[0].Kind = "ReplicaSet" }

	tests := []struct {
		name         string
		fire         func(q priorityqueue.PriorityQueue[reconcile.Request])
		wantQueued   bool
		wantPriority int
	}{
		{"created: routine", func(q priorityqueue.PriorityQueue[reconcile.Request]) {
			placeholderEvents().Create(t.Context(), event.TypedCreateEvent[client.Object]{Object: owned(nil)}, q)
		}, true, 0},
		{"accepted: urgent", func(q priorityqueue.PriorityQueue[reconcile.Request]) {
			placeholderEvents().Update(t.Context(), event.TypedUpdateEvent[client.Object]{ObjectOld: owned(bound), ObjectNew: owned(running)}, q)
		}, true, UrgentPriority},
		{"deletion begins: urgent", func(q priorityqueue.PriorityQueue[reconcile.Request]) {
			placeholderEvents().Update(t.Context(), event.TypedUpdateEvent[client.Object]{ObjectOld: owned(running), ObjectNew: owned(deleting)}, q)
		}, true, UrgentPriority},
		{"deleted: urgent", func(q priorityqueue.PriorityQueue[reconcile.Request]) {
			placeholderEvents().Delete(t.Context(), event.TypedDeleteEvent[client.Object]{Object: owned(running)}, q)
		}, true, UrgentPriority},
		{"bound by the scheduler: nothing", func(q priorityqueue.PriorityQueue[reconcile.Request]) {
			placeholderEvents().Update(t.Context(), event.TypedUpdateEvent[client.Object]{ObjectOld: owned(nil), ObjectNew: owned(bound)}, q)
		}, false, 0},
		{"not a lease's pod: nothing", func(q priorityqueue.PriorityQueue[reconcile.Request]) {
			placeholderEvents().Delete(t.Context(), event.TypedDeleteEvent[client.Object]{Object: owned(foreign)}, q)
		}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := priorityqueue.New[reconcile.Request]("test")
			defer q.ShutDown()
			tt.fire(q)
			if got := q.Len(); (got == 1) != tt.wantQueued {
				t.Fatalf("queue length %d, want queued=%v", got, tt.wantQueued)
			}
			if !tt.wantQueued {
				return
			}
			req, priority, _ := q.GetWithPriority()
			if req.Namespace != "lab" || req.Name != "l1" || priority != tt.wantPriority {
				t.Errorf("got %v at priority %d, want lab/l1 at %d", req, priority, tt.wantPriority)
			}
		})
	}
}
