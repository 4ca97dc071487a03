package lease

import (
	"context"
	"fmt"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// DefaultEndedRetention is how long an ended lease is kept before the controller deletes it.
// A CI pipeline creates leases by the thousand; kept for ever, they would grow etcd, the
// controller's cache and every listing without bound. A week leaves time to look into what
// happened to a lease (kubectl describe, its events expire after an hour anyway).
const DefaultEndedRetention = 7 * 24 * time.Hour

// expireEnded deletes an ended lease once it has been over for EndedRetention, or asks to be
// woken then; with no retention it keeps the lease. The lease's placeholder is gone already,
// and nothing reads an ended lease to decide anything, so the deletion has nothing to wait for.
func (r *Reconciler) expireEnded(ctx context.Context, lease *jumpstarterv1alpha1.Lease) (reconcile.Result, error) {
	if r.EndedRetention <= 0 {
		return reconcile.Result{}, nil
	}
	deleteAt := endedAt(lease).Add(r.EndedRetention)
	if now := r.Clock.Now(); now.Before(deleteAt) {
		return reconcile.Result{RequeueAfter: deleteAt.Sub(now), Priority: ptr.To(refreshPriority)}, nil
	}
	// The UID precondition: a lease created again under the same name is not this one.
	if err := r.Client.Delete(ctx, lease, client.Preconditions{UID: ptr.To(lease.UID)}); client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, fmt.Errorf("delete lease %s, ended more than %v ago: %w", klog.KObj(lease), r.EndedRetention, err)
	}
	klog.FromContext(ctx).V(2).Info("Deleted ended lease", "lease", klog.KObj(lease), "retention", r.EndedRetention)
	return reconcile.Result{}, nil
}

// endedAt is when the lease ended: its end time if it had begun, else when its last condition
// changed (the end's write), else its creation.
func endedAt(lease *jumpstarterv1alpha1.Lease) time.Time {
	if lease.Status.EndTime != nil {
		return lease.Status.EndTime.Time
	}
	var last time.Time
	for _, c := range lease.Status.Conditions {
		if c.LastTransitionTime.After(last) {
			last = c.LastTransitionTime.Time
		}
	}
	if last.IsZero() {
		return lease.CreationTimestamp.Time
	}
	return last
}
