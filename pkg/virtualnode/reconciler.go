package virtualnode

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/requeue"
)

// Workers is the number of concurrent reconciles. Sixteen made the load benchmark slower, not
// faster: the API server is the bottleneck, and more writes in flight from this controller only
// queue behind each other there (and ahead of the lease controller's).
const Workers = 4

// Finalizer holds an Exporter until its node is gone: a namespaced object cannot own a
// cluster-scoped one, so garbage collection cannot do it.
const Finalizer = "jumpstarter.dev/virtual-node"

// Reconciler keeps an Exporter's virtual node in step with it.
type Reconciler struct {
	Client            client.Client
	Clock             clock.PassiveClock
	HeartbeatInterval time.Duration

	mu sync.Mutex
	// nextRenewal is when each node's Lease is next due for renewal. An exporter is reconciled
	// on every heartbeat of its agent and every grant and release, far more often than the node
	// Lease needs; renewing only when due keeps the heartbeat at one write per interval per node.
	nextRenewal map[string]time.Time
	// firstGap draws the time from a node's first renewal by this process to its second
	// (randomPhase unless a test sets it).
	firstGap func(interval time.Duration) time.Duration
}

// +kubebuilder:rbac:groups=jumpstarter.dev,resources=exporters,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=jumpstarter.dev,resources=exporters/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=jumpstarter.dev,resources=exporters/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=nodes/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete

// Reconcile makes the exporter's node, node Lease and status agree with the exporter.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	logger := klog.FromContext(ctx)
	exporter := &jumpstarterv1alpha1.Exporter{}
	if err := r.Client.Get(ctx, req.NamespacedName, exporter); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	nodeName := NodeName(exporter.Namespace, exporter.Name)

	if !exporter.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, r.finalize(ctx, exporter, nodeName)
	}
	if controllerutil.AddFinalizer(exporter, Finalizer) {
		if err := r.Client.Update(ctx, exporter); err != nil {
			return reconcile.Result{}, fmt.Errorf("add finalizer to exporter %s: %w", req, err)
		}
	}

	now := r.Clock.Now()
	statusBase := exporter.DeepCopy()
	if isOnlineCondition(exporter) && IsStale(exporter, now) {
		markStale(exporter)
		logger.Info("Exporter went silent", "exporter", klog.KObj(exporter))
	}
	online := IsOnline(exporter, now)

	holder, err := r.holder(ctx, exporter)
	if err != nil {
		return reconcile.Result{}, err
	}
	node, err := r.ensureNode(ctx, exporter, nodeName, online, now)
	if err != nil {
		return reconcile.Result{}, err
	}
	if online && r.renewalDue(nodeName, now) {
		if err := renewNodeLease(ctx, r.Client, node, now); err != nil {
			return reconcile.Result{}, fmt.Errorf("renew node lease %s: %w", nodeName, err)
		}
		r.setRenewed(nodeName, now)
	}

	exporter.Status.NodeName = nodeName
	exporter.Status.LeaseRef = nil
	if holder != "" {
		exporter.Status.LeaseRef = &corev1.LocalObjectReference{Name: holder}
	}
	if !equality.Semantic.DeepEqual(statusBase.Status, exporter.Status) {
		// An update with the cached resourceVersion, like a patch with an optimistic lock, but
		// cheaper for the API server (see lease.Reconciler.patchStatus).
		if err := r.Client.Status().Update(ctx, exporter); err != nil {
			return reconcile.Result{}, fmt.Errorf("update status of exporter %s: %w", req, err)
		}
	}

	if !online {
		return reconcile.Result{}, nil
	}
	// Heartbeat while online, and look again the moment the exporter would turn stale.
	next := r.untilRenewal(nodeName, now)
	if untilStale := staleAt(exporter).Sub(now); untilStale < next {
		next = untilStale
	}
	return reconcile.Result{RequeueAfter: next}, nil
}

// renewalSlack is how early a renewal may come: the requeue for the next renewal may fire a
// little before it is due, and must still renew.
const renewalSlack = 100 * time.Millisecond

// renewalDue: the node Lease is due for renewal, or this process never renewed it. Reconciles
// that come between (a busy exporter's come several times a second) leave it alone, so a node
// costs one write per interval however busy it is.
func (r *Reconciler) renewalDue(node string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, ok := r.nextRenewal[node]
	return !ok || !now.Before(next.Add(-renewalSlack))
}

// untilRenewal is the time left until the node Lease is due for renewal.
func (r *Reconciler) untilRenewal(node string, now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, ok := r.nextRenewal[node]
	if !ok {
		return r.HeartbeatInterval
	}
	return max(next.Sub(now), time.Millisecond)
}

// setRenewed records a renewal at the given time (a zero time forgets the node). The first
// renewal of a node by this process is followed by the second at a random point of the
// interval, then one per interval: nodes that this process met at once (all of them after a
// restart, or a fleet registered together) would otherwise renew in one burst every interval
// for good, and a burst of hundreds of writes stalls every other request for its length.
func (r *Reconciler) setRenewed(node string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nextRenewal == nil {
		r.nextRenewal = map[string]time.Time{}
	}
	if at.IsZero() {
		delete(r.nextRenewal, node)
		return
	}
	gap := r.HeartbeatInterval
	if _, renewedBefore := r.nextRenewal[node]; !renewedBefore {
		draw := r.firstGap
		if draw == nil {
			draw = randomPhase
		}
		gap = draw(r.HeartbeatInterval)
	}
	r.nextRenewal[node] = at.Add(gap)
}

// randomPhase is a uniformly random duration in (0, interval].
func randomPhase(interval time.Duration) time.Duration {
	if interval <= 0 {
		return interval
	}
	return interval - rand.N(interval)
}

func isOnlineCondition(exporter *jumpstarterv1alpha1.Exporter) bool {
	for _, c := range exporter.Status.Conditions {
		if c.Type == jumpstarterv1alpha1.ExporterConditionOnline {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

// holder is the lease that holds the exporter, as the leases' status says: granted it and not
// ended. A lease that released its placeholder ahead of its end time still holds it.
func (r *Reconciler) holder(ctx context.Context, exporter *jumpstarterv1alpha1.Exporter) (string, error) {
	leases := &jumpstarterv1alpha1.LeaseList{}
	if err := r.Client.List(ctx, leases, client.InNamespace(exporter.Namespace),
		client.MatchingFields{LeaseExporterIndex: exporter.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return "", fmt.Errorf("list leases of exporter %s: %w", klog.KObj(exporter), err)
	}
	holder := ""
	for i := range leases.Items {
		// One at a time by construction; the smallest name keeps the answer stable regardless.
		if name := leases.Items[i].Name; holder == "" || name < holder {
			holder = name
		}
	}
	return holder, nil
}

// ensureNode creates or updates the virtual node: metadata and spec first, then status.
func (r *Reconciler) ensureNode(ctx context.Context, exporter *jumpstarterv1alpha1.Exporter, nodeName string, online bool, now time.Time) (*corev1.Node, error) {
	node := &corev1.Node{}
	err := r.Client.Get(ctx, types.NamespacedName{Name: nodeName}, node)
	switch {
	case apierrors.IsNotFound(err):
		node = &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: nodeName, Labels: desiredLabels(exporter, nodeName)},
			Spec:       corev1.NodeSpec{Taints: []corev1.Taint{exporterTaint}},
		}
		if err := r.Client.Create(ctx, node); err != nil {
			return nil, fmt.Errorf("create node %s: %w", nodeName, err)
		}
		klog.FromContext(ctx).Info("Created virtual node", "exporter", klog.KObj(exporter), "node", nodeName)
	case err != nil:
		return nil, fmt.Errorf("get node %s: %w", nodeName, err)
	default:
		base := node.DeepCopy()
		changed := syncLabels(node, desiredLabels(exporter, nodeName))
		changed = ensureTaint(node) || changed
		if changed {
			if err := r.Client.Patch(ctx, node, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
				return nil, fmt.Errorf("update node %s: %w", nodeName, err)
			}
		}
	}

	base := node.DeepCopy()
	if syncStatus(node, online, exporter.IsEnabled(), now) {
		if err := r.Client.Status().Patch(ctx, node, client.MergeFrom(base)); err != nil {
			return nil, fmt.Errorf("update status of node %s: %w", nodeName, err)
		}
	}
	return node, nil
}

// finalize deletes the node (its Lease goes with it by owner reference, and by hand in case
// garbage collection is slow) and then lets the exporter go.
func (r *Reconciler) finalize(ctx context.Context, exporter *jumpstarterv1alpha1.Exporter, nodeName string) error {
	if !controllerutil.ContainsFinalizer(exporter, Finalizer) {
		return nil
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}
	if err := r.Client.Delete(ctx, node); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete node %s: %w", nodeName, err)
	}
	nodeLease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: corev1.NamespaceNodeLease, Name: nodeName}}
	if err := r.Client.Delete(ctx, nodeLease); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete node lease %s: %w", nodeName, err)
	}
	r.setRenewed(nodeName, time.Time{})
	controllerutil.RemoveFinalizer(exporter, Finalizer)
	if err := r.Client.Update(ctx, exporter); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("remove finalizer from exporter %s: %w", klog.KObj(exporter), err)
	}
	klog.FromContext(ctx).Info("Deleted virtual node", "exporter", klog.KObj(exporter), "node", nodeName)
	return nil
}

// SetupWithManager watches exporters, their nodes and the leases granted them. The lease index
// must be registered first (IndexLeasesByExporter).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("virtualnode").
		WithOptions(requeue.ControllerOptions(Workers)).
		For(&jumpstarterv1alpha1.Exporter{}).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(exporterOfNode)).
		Watches(&jumpstarterv1alpha1.Lease{}, leaseEvents()).
		Complete(requeue.OnConflict(r))
}

func exporterOfNode(_ context.Context, obj client.Object) []reconcile.Request {
	labels := obj.GetLabels()
	ns, name := labels[jumpstarterv1alpha1.LabelExporterNamespace], labels[jumpstarterv1alpha1.LabelExporterName]
	if ns == "" || name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
}

// LeaseRefDelay is how long a lease's grant or end waits before it updates its exporter's
// status.leaseRef. A hand-over ends one lease and grants the next within that time, so both
// land as one status write instead of two (clear, then set), and the write stays out of the
// way of the API calls that make the hand-over. Who holds an exporter is the lease's status;
// leaseRef is the convenience view of it on the exporter.
const LeaseRefDelay = 500 * time.Millisecond

// leaseEvents reconciles a lease's exporter LeaseRefDelay after the lease was granted it or
// ended; further changes within that time add nothing.
func leaseEvents() handler.TypedEventHandler[client.Object, reconcile.Request] {
	enqueue := func(obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		if lease, ok := obj.(*jumpstarterv1alpha1.Lease); ok && lease.Status.ExporterRef != nil && lease.Status.ExporterRef.Name != "" {
			q.AddAfter(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: lease.Namespace, Name: lease.Status.ExporterRef.Name}}, LeaseRefDelay)
		}
	}
	return handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(_ context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.Object, q)
		},
		UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if holdingChanged(e.ObjectOld, e.ObjectNew) {
				enqueue(e.ObjectNew, q)
			}
		},
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(e.Object, q)
		},
	}
}

// holdingChanged: the lease was granted an exporter, or ended.
func holdingChanged(oldObj, newObj client.Object) bool {
	oldLease, okOld := oldObj.(*jumpstarterv1alpha1.Lease)
	newLease, okNew := newObj.(*jumpstarterv1alpha1.Lease)
	if !okOld || !okNew {
		return true
	}
	return oldLease.Status.Ended != newLease.Status.Ended ||
		!equality.Semantic.DeepEqual(oldLease.Status.ExporterRef, newLease.Status.ExporterRef)
}
