package lease

import (
	"maps"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/virtualnode"
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

	// The waiting status's delay: long enough that a slow machine does not reach it between the
	// event and the first look at the queue.
	const delay = time.Second
	tests := []struct {
		name         string
		fire         func(q priorityqueue.PriorityQueue[reconcile.Request])
		wantQueued   bool
		wantPriority int
		wantDelayed  bool // queued only after the waiting status's delay
	}{
		{"created: the waiting status, later, after other leases' placeholders", func(q priorityqueue.PriorityQueue[reconcile.Request]) {
			(&Reconciler{WaitingStatusDelay: delay}).placeholderEvents().Create(t.Context(), event.TypedCreateEvent[client.Object]{Object: owned(nil)}, q)
		}, true, waitingStatusPriority, true},
		{"accepted: urgent", func(q priorityqueue.PriorityQueue[reconcile.Request]) {
			(&Reconciler{}).placeholderEvents().Update(t.Context(), event.TypedUpdateEvent[client.Object]{ObjectOld: owned(bound), ObjectNew: owned(running)}, q)
		}, true, UrgentPriority, false},
		{"deletion begins: urgent", func(q priorityqueue.PriorityQueue[reconcile.Request]) {
			(&Reconciler{}).placeholderEvents().Update(t.Context(), event.TypedUpdateEvent[client.Object]{ObjectOld: owned(running), ObjectNew: owned(deleting)}, q)
		}, true, UrgentPriority, false},
		{"deleted: urgent", func(q priorityqueue.PriorityQueue[reconcile.Request]) {
			(&Reconciler{}).placeholderEvents().Delete(t.Context(), event.TypedDeleteEvent[client.Object]{Object: owned(running)}, q)
		}, true, UrgentPriority, false},
		{"bound by the scheduler: urgent (the grant)", func(q priorityqueue.PriorityQueue[reconcile.Request]) {
			(&Reconciler{}).placeholderEvents().Update(t.Context(), event.TypedUpdateEvent[client.Object]{ObjectOld: owned(nil), ObjectNew: owned(bound)}, q)
		}, true, UrgentPriority, false},
		{"a failed attempt's condition: nothing", func(q priorityqueue.PriorityQueue[reconcile.Request]) {
			unschedulable := func(p *corev1.Pod) {
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable"}}
			}
			(&Reconciler{}).placeholderEvents().Update(t.Context(), event.TypedUpdateEvent[client.Object]{ObjectOld: owned(nil), ObjectNew: owned(unschedulable)}, q)
		}, false, 0, false},
		{"not a lease's pod: nothing", func(q priorityqueue.PriorityQueue[reconcile.Request]) {
			(&Reconciler{}).placeholderEvents().Delete(t.Context(), event.TypedDeleteEvent[client.Object]{Object: owned(foreign)}, q)
		}, false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := priorityqueue.New[reconcile.Request]("test")
			defer q.ShutDown()
			start := time.Now()
			tt.fire(q)
			if tt.wantDelayed {
				if got := q.Len(); got != 0 {
					t.Fatalf("queue length %d at once, want the lease queued only after %v", got, delay)
				}
				for q.Len() == 0 && time.Since(start) < delay+5*time.Second {
					time.Sleep(10 * time.Millisecond)
				}
				if waited := time.Since(start); waited < delay {
					t.Errorf("queued after %v, want after %v", waited, delay)
				}
			}
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

// TestNeighboursWokenWhenTheHolderLeaves: when the placeholder holding a node is deleted, the
// lease of another placeholder already bound there (but not admitted) is woken urgently.
func TestNeighboursWokenWhenTheHolderLeaves(t *testing.T) {
	placeholder := func(name string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "lease-" + name, UID: types.UID(name), OwnerReferences: []metav1.OwnerReference{{
				APIVersion: jumpstarterv1alpha1.GroupVersion.String(), Kind: "Lease", Name: name, UID: types.UID("u-" + name), Controller: ptr.To(true),
			}}},
			Spec:   corev1.PodSpec{NodeName: "exporter-lab.e1"},
			Status: corev1.PodStatus{Phase: phase},
		}
	}
	holder, waiting := placeholder("l1", corev1.PodRunning), placeholder("l2", corev1.PodPending)
	c := podsByNode(t, waiting)
	q := priorityqueue.New[reconcile.Request]("test")
	defer q.ShutDown()
	(&Reconciler{Client: c}).placeholderEvents().Delete(t.Context(), event.TypedDeleteEvent[client.Object]{Object: holder}, q)

	got := drain(q)
	want := map[string]int{"l1": UrgentPriority, "l2": UrgentPriority}
	if !maps.Equal(got, want) {
		t.Errorf("woken %v, want %v", got, want)
	}
}

// TestWaitingLeasesWokenWhenTheHolderEnds: when a lease granted an exporter ends, the leases
// of the placeholders bound there but not admitted (the node agent blocked them until that
// end) are woken urgently; other lease updates wake nobody.
func TestWaitingLeasesWokenWhenTheHolderEnds(t *testing.T) {
	waiting := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "lease-l2", UID: "l2", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: jumpstarterv1alpha1.GroupVersion.String(), Kind: "Lease", Name: "l2", UID: "u-l2", Controller: ptr.To(true),
		}}},
		Spec:   corev1.PodSpec{NodeName: virtualnode.NodeName("lab", "e1")},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	c := podsByNode(t, waiting)
	granted := newLease("l1", func(l *jumpstarterv1alpha1.Lease) {
		l.Status.ExporterRef = &corev1.LocalObjectReference{Name: "e1"}
	})
	ended := granted.DeepCopy()
	ended.Status.Ended = true
	endedUngranted := newLease("l3", func(l *jumpstarterv1alpha1.Lease) { l.Status.Ended = true })

	tests := []struct {
		name     string
		old, new *jumpstarterv1alpha1.Lease
		want     map[string]int
	}{
		{"a granted lease ends", granted, ended, map[string]int{"l2": UrgentPriority}},
		{"a lease that never had the exporter ends", newLease("l3", nil), endedUngranted, map[string]int{}},
		{"an ended lease changes again", ended, ended, map[string]int{}},
		{"a granted lease changes", granted, granted, map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := priorityqueue.New[reconcile.Request]("test")
			defer q.ShutDown()
			(&Reconciler{Client: c}).endEvents().Update(t.Context(), event.TypedUpdateEvent[client.Object]{ObjectOld: tt.old, ObjectNew: tt.new}, q)
			got := drain(q)
			if !maps.Equal(got, tt.want) {
				t.Errorf("woken %v, want %v", got, tt.want)
			}
		})
	}
}

// podsByNode is a fake client holding pods, indexed by node as the controller's cache is.
func podsByNode(t *testing.T, pods ...client.Object) client.Client {
	t.Helper()
	scheme, err := newTestScheme()
	if err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(pods...).
		WithIndex(&corev1.Pod{}, virtualnode.PodNodeNameIndex, func(o client.Object) []string { return []string{o.(*corev1.Pod).Spec.NodeName} }).
		Build()
}

// drain empties the queue: the leases it held, with their priorities.
func drain(q priorityqueue.PriorityQueue[reconcile.Request]) map[string]int {
	got := map[string]int{}
	for q.Len() > 0 {
		req, priority, _ := q.GetWithPriority()
		got[req.Name] = priority
	}
	return got
}

// TestWaitingLeasesWoken: an exporter's change wakes the leases of its namespace that wait and
// could take it; an access policy's change wakes every lease of its namespace that waits.
func TestWaitingLeasesWoken(t *testing.T) {
	pinnedTo := func(exporter string) func(*jumpstarterv1alpha1.Lease) {
		return func(l *jumpstarterv1alpha1.Lease) { l.Spec.ExporterRef = &corev1.LocalObjectReference{Name: exporter} }
	}
	c := podsByNode(t,
		newLease("waiting", nil),
		newLease("pinned-e1", pinnedTo("e1")),
		newLease("pinned-e2", pinnedTo("e2")),
		newLease("granted", func(l *jumpstarterv1alpha1.Lease) { l.Status.ExporterRef = &corev1.LocalObjectReference{Name: "e1"} }),
		newLease("ended", func(l *jumpstarterv1alpha1.Lease) { l.Status.Ended = true }),
	)
	r := &Reconciler{Client: c}
	names := func(requests []reconcile.Request) []string {
		var out []string
		for _, req := range requests {
			out = append(out, req.Name)
		}
		slices.Sort(out)
		return out
	}
	exporter := &jumpstarterv1alpha1.Exporter{ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "e1"}}
	if got, want := names(r.waitingLeasesFor(t.Context(), exporter)), []string{"pinned-e1", "waiting"}; !slices.Equal(got, want) {
		t.Errorf("exporter e1 wakes %v, want %v", got, want)
	}
	policy := &jumpstarterv1alpha1.ExporterAccessPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "e1"}}
	if got, want := names(r.waitingLeasesIn(t.Context(), policy)), []string{"pinned-e1", "pinned-e2", "waiting"}; !slices.Equal(got, want) {
		t.Errorf("a policy wakes %v, want %v", got, want)
	}
}
