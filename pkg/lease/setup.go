package lease

import (
	"cmp"
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/requeue"
	"jumpstarter.dev/service/pkg/virtualnode"
)

// SetupWithManager wakes a lease on its own spec changes, on its placeholder's changes, and on
// exporter changes that can change its verdict. Status-only writes (ours) and exporter
// heartbeats wake nothing: with thousands of waiting leases, they would wake every one.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, maxConcurrent int) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("lease").
		For(&jumpstarterv1alpha1.Lease{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&corev1.Pod{}, builder.WithPredicates(predicate.Funcs{UpdateFunc: placeholderOutcomeChanged})).
		Watches(&jumpstarterv1alpha1.Exporter{}, handler.EnqueueRequestsFromMapFunc(r.waitingLeasesFor),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: r.exporterVerdictChanged})).
		WithOptions(requeue.ControllerOptions(cmp.Or(maxConcurrent, DefaultMaxConcurrentReconciles))).
		Complete(requeue.OnConflict(r))
}

// placeholderOutcomeChanged: the node agent accepted or refused the placeholder, or its
// deletion began. The scheduler's own writes (the binding, PodScheduled conditions) change
// nothing the lease acts on; the grant waits for the node agent.
func placeholderOutcomeChanged(e event.UpdateEvent) bool {
	oldPod, okOld := e.ObjectOld.(*corev1.Pod)
	newPod, okNew := e.ObjectNew.(*corev1.Pod)
	if !okOld || !okNew {
		return true
	}
	return oldPod.Status.Phase != newPod.Status.Phase ||
		oldPod.DeletionTimestamp.IsZero() != newPod.DeletionTimestamp.IsZero()
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
	leases := &jumpstarterv1alpha1.LeaseList{}
	if err := r.Client.List(ctx, leases, client.InNamespace(obj.GetNamespace()), client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	var requests []reconcile.Request
	for i := range leases.Items {
		lease := &leases.Items[i]
		if lease.Status.Ended || lease.Status.ExporterRef != nil {
			continue
		}
		if ref := lease.Spec.ExporterRef; ref != nil && ref.Name != obj.GetName() {
			continue
		}
		requests = append(requests, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: lease.Namespace, Name: lease.Name}})
	}
	return requests
}

// DefaultMaxConcurrentReconciles: leases are independent, and each reconcile mostly waits on
// the API server (one or two writes), so throughput under load grows with the workers.
const DefaultMaxConcurrentReconciles = 32
