package requeue

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func TestOnConflict(t *testing.T) {
	conflictErr := fmt.Errorf("update status: %w", apierrors.NewConflict(schema.GroupResource{Resource: "leases"}, "l1", errors.New("modified")))
	other := errors.New("boom")
	tests := []struct {
		name        string
		err         error
		wantErr     error
		wantRequeue time.Duration
	}{
		{"wrapped conflict requeues quietly after a fixed delay", conflictErr, nil, ConflictRetryDelay},
		{"other errors pass", other, other, 0},
		{"success passes", nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := OnConflict(reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) {
				return reconcile.Result{}, tt.err
			}))
			res, err := r.Reconcile(context.Background(), reconcile.Request{})
			if !errors.Is(err, tt.wantErr) || res.RequeueAfter != tt.wantRequeue {
				t.Errorf("got (%+v, %v), want requeueAfter=%v err=%v", res, err, tt.wantRequeue, tt.wantErr)
			}
		})
	}
}

func TestRateLimiterHasNoGlobalCap(t *testing.T) {
	rl := RateLimiter()
	// A thousand different objects failing at once must all be retried right away; the default
	// controller-runtime limiter would spread them over 90 s.
	for i := range 1000 {
		req := reconcile.Request{}
		req.Name = fmt.Sprint(i)
		if d := rl.When(req); d > baseDelay {
			t.Fatalf("object %d waits %v", i, d)
		}
	}
}
