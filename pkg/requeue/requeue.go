package requeue

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Per-object retry back-off: fast enough that a conflict costs milliseconds, capped so that a
// persistently failing object is retried at least this often.
const (
	baseDelay = 5 * time.Millisecond
	maxDelay  = 10 * time.Second
)

// ConflictRetryDelay is how long a request waits after a conflict. A conflict almost always
// means the cache had not yet caught up with a write, which takes milliseconds; a fixed delay
// (rather than the per-object exponential back-off) keeps a busy object, which may conflict
// many times in a row while others write it, from being pushed seconds out.
const ConflictRetryDelay = 10 * time.Millisecond

// OnConflict wraps a reconciler so that a conflict requeues the request after
// ConflictRetryDelay instead of surfacing as an error.
func OnConflict(r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		result, err := r.Reconcile(ctx, req)
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: ConflictRetryDelay}, nil
		}
		return result, err
	})
}

// ControllerOptions are the options of every controller of the service: this back-off, and the
// given number of workers.
func ControllerOptions(workers int) controller.Options {
	return controller.Options{MaxConcurrentReconciles: workers, RateLimiter: RateLimiter()}
}

// RateLimiter backs off per object only.
func RateLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](baseDelay, maxDelay)
}
