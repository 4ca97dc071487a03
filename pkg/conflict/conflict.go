package conflict

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// RequeueOnConflict wraps a reconciler so that a conflict requeues the request (with the
// controller's rate-limited back-off) instead of surfacing as an error.
func RequeueOnConflict(r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		result, err := r.Reconcile(ctx, req)
		if apierrors.IsConflict(err) {
			return reconcile.Result{Requeue: true}, nil
		}
		return result, err
	})
}
