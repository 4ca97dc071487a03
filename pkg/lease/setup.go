package lease

import (
	"cmp"
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/requeue"
	"jumpstarter.dev/service/pkg/virtualnode"
)

// SetupWithManager wakes a lease on its own spec changes, on its placeholder's changes, on
// exporter changes that can change its verdict, and on access policy changes while it waits. Status-only writes (ours) and exporter
// heartbeats wake nothing: with thousands of waiting leases, they would wake every one.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, maxConcurrent int) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("lease").
		For(&jumpstarterv1alpha1.Lease{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Pod{}, r.placeholderEvents()).
		Watches(&jumpstarterv1alpha1.Lease{}, r.endEvents()).
		Watches(&jumpstarterv1alpha1.Exporter{}, handler.EnqueueRequestsFromMapFunc(r.waitingLeasesFor),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: r.exporterVerdictChanged})).
		Watches(&jumpstarterv1alpha1.ExporterAccessPolicy{}, handler.EnqueueRequestsFromMapFunc(r.waitingLeasesIn)).
		WithOptions(requeue.ControllerOptions(cmp.Or(maxConcurrent, DefaultMaxConcurrentReconciles))).
		Complete(requeue.OnConflict(r))
}

// UrgentPriority is the work-queue priority of the reconciles that decide a grant or an end:
// a placeholder accepted or gone, and an active lease reaching its end time. Under load, when
// hundreds of new leases wait to be queued (priority 0), these go first, so that leases end on
// time and a freed exporter passes to the next lease without waiting behind the backlog.
const UrgentPriority = 10

// placeholderEvents wakes the lease that controls a placeholder pod: at once (UrgentPriority)
// when the scheduler bound it (the grant), the node agent refused it or marked it Running, or
// it is going away; when it appears, after the waiting status's delay and at
// waitingStatusPriority, to write the lease's waiting status unless it was granted meanwhile.
// The scheduler's other writes (PodScheduled conditions of failed attempts) change nothing the
// lease acts on and wake nothing. When a bound placeholder is deleted, the leases of the other
// placeholders bound to the same node are woken too: the scheduler may have bound the next one
// before this controller's cache saw the exporter freed, and the admission then said "held".
func (r *Reconciler) placeholderEvents() handler.TypedEventHandler[client.Object, reconcile.Request] {
	return handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(_ context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueueOwnerAfter(q, e.Object, waitingStatusPriority, r.waitingStatusDelay())
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if placeholderOutcomeChanged(e.ObjectOld, e.ObjectNew) {
				enqueueOwner(q, e.ObjectNew, UrgentPriority)
			}
			if leftNode(e.ObjectOld, e.ObjectNew) {
				r.enqueueNeighbours(ctx, q, e.ObjectNew)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueueOwner(q, e.Object, UrgentPriority)
			r.enqueueNeighbours(ctx, q, e.Object)
		},
	}
}

// placeholderOutcomeChanged: the scheduler bound the placeholder, the node agent accepted or
// refused it, or its deletion began.
func placeholderOutcomeChanged(oldObj, newObj client.Object) bool {
	oldPod, okOld := oldObj.(*corev1.Pod)
	newPod, okNew := newObj.(*corev1.Pod)
	if !okOld || !okNew {
		return true
	}
	return oldPod.Spec.NodeName != newPod.Spec.NodeName ||
		oldPod.Status.Phase != newPod.Status.Phase ||
		oldPod.DeletionTimestamp.IsZero() != newPod.DeletionTimestamp.IsZero()
}

// leftNode: a bound placeholder stopped holding its node (failed, or its deletion began).
func leftNode(oldObj, newObj client.Object) bool {
	oldPod, okOld := oldObj.(*corev1.Pod)
	newPod, okNew := newObj.(*corev1.Pod)
	return okOld && okNew && holdsNode(oldPod) && !holdsNode(newPod)
}

// enqueueNeighbours wakes, urgently, the leases of the other placeholders bound to pod's node
// that have not been granted it yet.
func (r *Reconciler) enqueueNeighbours(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], obj client.Object) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return
	}
	r.enqueueWaitingOn(ctx, q, pod.Spec.NodeName, pod.UID)
}

// enqueueWaitingOn wakes, urgently, the leases of the placeholders bound to node, other than
// except, that have not been granted it yet.
func (r *Reconciler) enqueueWaitingOn(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], node string, except types.UID) {
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.MatchingFields{virtualnode.PodNodeNameIndex: node}, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	for i := range pods.Items {
		if other := &pods.Items[i]; other.UID != except && holdsNode(other) && other.Status.Phase != corev1.PodRunning {
			enqueueOwner(q, other, UrgentPriority)
		}
	}
}

// endEvents wakes, urgently, the leases waiting on an exporter when the lease that was granted
// it ends. The node agent blocks the next placeholder until that end is written, and asks
// again when the lease was due to end; a lease that ends early (released, preempted, its
// placeholder lost) ends long before that, and without this the next lease slept until then.
func (r *Reconciler) endEvents() handler.TypedEventHandler[client.Object, reconcile.Request] {
	return handler.TypedFuncs[client.Object, reconcile.Request]{
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			oldLease, okOld := e.ObjectOld.(*jumpstarterv1alpha1.Lease)
			newLease, okNew := e.ObjectNew.(*jumpstarterv1alpha1.Lease)
			if !okOld || !okNew || oldLease.Status.Ended || !newLease.Status.Ended || newLease.Status.ExporterRef == nil {
				return
			}
			r.enqueueWaitingOn(ctx, q, virtualnode.NodeName(newLease.Namespace, newLease.Status.ExporterRef.Name), "")
		},
	}
}

// enqueueOwner adds the lease that controls pod, with the given priority when the queue has
// priorities (controller-runtime's default queue does).
func enqueueOwner(q workqueue.TypedRateLimitingInterface[reconcile.Request], pod client.Object, priority int) {
	enqueueOwnerAfter(q, pod, priority, 0)
}

// enqueueOwnerAfter is enqueueOwner, ready after the given delay.
func enqueueOwnerAfter(q workqueue.TypedRateLimitingInterface[reconcile.Request], pod client.Object, priority int, after time.Duration) {
	owner := metav1.GetControllerOf(pod)
	if owner == nil || owner.Kind != "Lease" || owner.APIVersion != jumpstarterv1alpha1.GroupVersion.String() {
		return
	}
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: pod.GetNamespace(), Name: owner.Name}}
	if pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request]); ok {
		pq.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(priority), After: after}, req)
		return
	}
	if after > 0 {
		q.AddAfter(req, after)
		return
	}
	q.Add(req)
}

// exporterVerdictChanged: labels, spec, deletion or online-ness changed, not just lastSeen.
func (r *Reconciler) exporterVerdictChanged(e event.UpdateEvent) bool {
	oldExporter, okOld := e.ObjectOld.(*jumpstarterv1alpha1.Exporter)
	newExporter, okNew := e.ObjectNew.(*jumpstarterv1alpha1.Exporter)
	if !okOld || !okNew {
		return true
	}
	now := r.Clock.Now()
	return !equality.Semantic.DeepEqual(oldExporter.Labels, newExporter.Labels) ||
		oldExporter.Generation != newExporter.Generation ||
		!oldExporter.DeletionTimestamp.Equal(newExporter.DeletionTimestamp) ||
		virtualnode.IsOnline(oldExporter, now) != virtualnode.IsOnline(newExporter, now)
}

// waitingLeasesFor maps an exporter to the leases of its namespace that are not yet granted.
// Selectors are not matched here: a lease whose selector stopped matching must be woken too,
// as it may have become unsatisfiable. The predicate keeps these wake-ups rare.
func (r *Reconciler) waitingLeasesFor(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.waitingLeases(ctx, obj.GetNamespace(), obj.GetName())
}

// waitingLeasesIn maps an access policy to the leases of its namespace that are not yet
// granted: a change may lock one out of every exporter (NoAccess), and it should hear at once.
func (r *Reconciler) waitingLeasesIn(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.waitingLeases(ctx, obj.GetNamespace(), "")
}

// waitingLeases are the leases of the namespace that are not yet granted, leaving out, when
// exporter is set, those pinned to another exporter.
func (r *Reconciler) waitingLeases(ctx context.Context, namespace, exporter string) []reconcile.Request {
	leases := &jumpstarterv1alpha1.LeaseList{}
	if err := r.Client.List(ctx, leases, client.InNamespace(namespace), client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	var requests []reconcile.Request
	for i := range leases.Items {
		lease := &leases.Items[i]
		if lease.Status.Ended || lease.Status.ExporterRef != nil {
			continue
		}
		if ref := lease.Spec.ExporterRef; exporter != "" && ref != nil && ref.Name != exporter {
			continue
		}
		requests = append(requests, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: lease.Namespace, Name: lease.Name}})
	}
	return requests
}

// DefaultMaxConcurrentReconciles: leases are independent, and each reconcile mostly waits on
// the API server (one or two writes), so throughput under load grows with the workers.
const DefaultMaxConcurrentReconciles = 32
