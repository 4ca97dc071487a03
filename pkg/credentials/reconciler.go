package credentials

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"jumpstarter.dev/service/pkg/auth/token"
	"jumpstarter.dev/service/pkg/requeue"
)

// minRequeue bounds the renewal requeue from below, for tokens that are already due.
const minRequeue = time.Second

// Reconciler keeps the credential of one kind of object (Client or Exporter): its Secret and
// the status fields that point at it. Set up one per kind.
type Reconciler struct {
	Kind  token.Kind
	Store *Store
	// Endpoint is the controller's advertised gRPC address, written to status.endpoint; empty
	// leaves the field alone.
	Endpoint string
}

// +kubebuilder:rbac:groups=jumpstarter.dev,resources=clients,verbs=get;list;watch
// +kubebuilder:rbac:groups=jumpstarter.dev,resources=clients/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=jumpstarter.dev,resources=exporters,verbs=get;list;watch
// +kubebuilder:rbac:groups=jumpstarter.dev,resources=exporters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete

// Reconcile makes the object's credential Secret hold a valid token for it and its status point
// at it, and comes back when the token is due for renewal.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	obj, err := NewObject(r.Kind)
	if err != nil {
		return reconcile.Result{}, err
	}
	if err := r.Store.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		// The Secret goes with the object by garbage collection.
		return reconcile.Result{}, nil
	}

	_, claims, secret, err := r.Store.ensure(ctx, r.Kind, obj, false)
	if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
		// The namespace is going, and the object with it; its Secret cannot be re-created.
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("ensure credential of %s %s: %w", r.Kind, req, err)
	}

	base := obj.DeepCopyObject().(client.Object)
	setStatus(obj, secret, r.Endpoint, claims.ExpiresAt)
	if !equality.Semantic.DeepEqual(statusOf(base), statusOf(obj)) {
		if err := r.Store.Client.Status().Patch(ctx, obj, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return reconcile.Result{}, fmt.Errorf("update status of %s %s: %w", r.Kind, req, err)
		}
	}

	renewAt := claims.ExpiresAt.Add(-r.Store.renewWindow())
	klog.FromContext(ctx).V(4).Info("Credential in place", string(r.Kind), req, "renewAt", renewAt)
	return reconcile.Result{RequeueAfter: max(renewAt.Sub(r.Store.Clock.Now()), minRequeue)}, nil
}

// SetupWithManager watches the kind and the credential Secrets it owns. Status-only updates of
// the object (an exporter's heartbeats) do not trigger a reconcile.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	obj, err := NewObject(r.Kind)
	if err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(string(r.Kind)+"-credentials").
		WithOptions(requeue.ControllerOptions(2)).
		For(obj, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.Secret{}).
		Complete(requeue.OnConflict(r))
}
