package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/requeue"
)

// Workers is the number of concurrent reconciles. Sixteen made the load benchmark slower, not
// faster: the API server is the bottleneck, and more writes in flight from this controller only
// queue behind each other there (and ahead of the lease controller's).
const Workers = 4

// Reasons the agent gives on pods it refuses.
const (
	ReasonExporterHeld   = "ExporterHeld"
	ReasonNotPlaceholder = "NotAnExporterPlaceholder"
)

// ForeignPodSweepInterval is how often the agent looks, around its cache, for pods that are not
// placeholders on a virtual node. The exporter taint keeps them away; only pods that tolerate
// every taint (some DaemonSets) get there, and they are refused.
const ForeignPodSweepInterval = 5 * time.Minute

// Agent reconciles the pods bound to one virtual node.
type Agent struct {
	Client client.Client
	// APIReader lists all pods of a node for the foreign-pod sweep; the cache holds placeholders
	// only.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	Clock     clock.PassiveClock
	// LeaseView returns the freshest copy of a lease this process knows (the lease
	// controller's own writes, before the cache shows them); nil reads the cache alone.
	LeaseView func(*jumpstarterv1alpha1.Lease) *jumpstarterv1alpha1.Lease
	// OwnGrants lists the leases this process last wrote as granted the exporter and not
	// ended, which the cache's index may not show yet; nil reads the cache alone.
	OwnGrants func(namespace, exporter string) []types.NamespacedName

	mu sync.Mutex
	// accepted is the placeholder admitted last on each node (decide). The cache may not show
	// that admission (the Running status) yet when the next pod is bound there or the lease
	// controller asks; this record closes that window, so no decision waits on a round trip to
	// the API server. After a restart the cache, synced before the first reconcile, holds every
	// earlier admission: as a Running pod, or as a lease granted the exporter.
	accepted map[string]types.UID
	// swept is when each node was last swept for foreign pods.
	swept map[string]time.Time
}

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=pods/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile accepts at most one placeholder on the node and refuses the rest.
func (a *Agent) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	logger := klog.FromContext(ctx).WithValues("node", req.Name)
	node := &corev1.Node{}
	if err := a.Client.Get(ctx, types.NamespacedName{Name: req.Name}, node); err != nil {
		if apierrors.IsNotFound(err) {
			a.forget(req.Name)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	exporter := node.Labels[jumpstarterv1alpha1.LabelExporterName]
	if exporter == "" {
		return reconcile.Result{}, nil
	}

	v, err := a.decide(ctx, node)
	if err != nil {
		return reconcile.Result{}, err
	}
	var errs []error
	for _, pod := range v.deleting {
		errs = append(errs, a.completeDeletion(ctx, pod))
	}
	if v.blocked {
		// A lease released its placeholder ahead of its end, or its end is being written; its
		// successor waits, neither admitted nor refused.
		if err := errors.Join(errs...); err != nil {
			return reconcile.Result{}, err
		}
		return reconcile.Result{RequeueAfter: blockedRetry(v.until, a.Clock.Now())}, nil
	}
	if v.holder != nil && v.holder.Status.Phase != corev1.PodRunning {
		if err := a.accept(ctx, v.holder); err != nil {
			errs = append(errs, err)
		} else {
			logger.V(2).Info("Accepted placeholder", "pod", klog.KObj(v.holder))
		}
	}
	// Two Running placeholders can only come from someone writing pod status by hand; the
	// agent keeps the one it admitted (or the oldest) so the exporter is never shared.
	for _, pod := range v.others {
		errs = append(errs, a.refuse(ctx, pod, ReasonExporterHeld,
			fmt.Sprintf("exporter %s is already held by lease %s", exporter, v.holder.Labels[jumpstarterv1alpha1.LabelLeaseName])))
	}

	if a.sweepDue(node.Name) {
		errs = append(errs, a.sweepForeignPods(ctx, node))
	}
	// An error requeues with back-off; controller-runtime ignores a RequeueAfter beside it.
	if err := errors.Join(errs...); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: ForeignPodSweepInterval}, nil
}

// completeDeletion confirms the deletion of a pod as a kubelet would: nothing runs on a virtual
// node, so nothing needs to stop first.
func (a *Agent) completeDeletion(ctx context.Context, pod *corev1.Pod) error {
	if err := a.Client.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &pod.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("complete deletion of pod %s: %w", klog.KObj(pod), err)
	}
	return nil
}

// sweepForeignPods refuses pods that are not placeholders; they are not in the cache.
func (a *Agent) sweepForeignPods(ctx context.Context, node *corev1.Node) error {
	pods := &corev1.PodList{}
	if err := a.APIReader.List(ctx, pods, client.MatchingFieldsSelector{
		Selector: fields.OneTermEqualSelector("spec.nodeName", node.Name),
	}); err != nil {
		return fmt.Errorf("list pods on node %s: %w", node.Name, err)
	}
	var errs []error
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.Labels[jumpstarterv1alpha1.LabelLeaseName] != "" {
			continue
		}
		switch {
		case !pod.DeletionTimestamp.IsZero():
			errs = append(errs, a.completeDeletion(ctx, pod))
		case !isTerminal(pod):
			errs = append(errs, a.refuse(ctx, pod, ReasonNotPlaceholder,
				fmt.Sprintf("node %s is an exporter's virtual node and runs only lease placeholders", node.Name)))
		}
	}
	return errors.Join(errs...)
}

func (a *Agent) sweepDue(node string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.Clock.Now()
	if last, ok := a.swept[node]; ok && now.Sub(last) < ForeignPodSweepInterval {
		return false
	}
	if a.swept == nil {
		a.swept = map[string]time.Time{}
	}
	a.swept[node] = now
	return true
}

func (a *Agent) forget(node string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.accepted, node)
	delete(a.swept, node)
}

func isTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded
}

func olderThan(a, b *corev1.Pod) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
}

// accept marks the placeholder Running, which is what the lease controller reads as the grant.
// The optimistic lock makes a decision taken on an outdated pod fail instead of landing.
func (a *Agent) accept(ctx context.Context, pod *corev1.Pod) error {
	now := metav1.NewTime(a.Clock.Now())
	pod.Status.Phase = corev1.PodRunning
	pod.Status.StartTime = &now
	for _, t := range []corev1.PodConditionType{corev1.PodInitialized, corev1.PodReadyToStartContainers, corev1.ContainersReady, corev1.PodReady} {
		setPodCondition(pod, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	pod.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name:    c.Name,
			Image:   c.Image,
			Ready:   true,
			Started: ptr.To(true),
			State:   corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	// An update with the cached resourceVersion: a patch with an optimistic lock says the same,
	// and costs the API server a JSON round of the whole pod more.
	// A pod gone already (its lease ended before this write came round) needs nothing.
	if err := a.Client.Status().Update(ctx, pod); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("accept placeholder %s: %w", klog.KObj(pod), err)
	}
	return nil
}

// refuse fails a pod that may not run on the node, with the reason on the pod and an event.
func (a *Agent) refuse(ctx context.Context, pod *corev1.Pod, reason, message string) error {
	base := pod.DeepCopy()
	pod.Status.Phase = corev1.PodFailed
	pod.Status.Reason = reason
	pod.Status.Message = message
	if err := a.Client.Status().Patch(ctx, pod, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("refuse pod %s: %w", klog.KObj(pod), err)
	}
	a.Recorder.Eventf(pod, nil, corev1.EventTypeWarning, reason, "Refuse", message)
	klog.FromContext(ctx).Info("Refused pod on virtual node", "pod", klog.KObj(pod), "reason", reason, "message", message)
	return nil
}

func setPodCondition(pod *corev1.Pod, cond corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == cond.Type {
			if pod.Status.Conditions[i].Status != cond.Status {
				pod.Status.Conditions[i] = cond
			}
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, cond)
}

// SetupWithManager runs the agent for every virtual node, woken by changes to the pods bound
// to it. Virtual nodes and placeholders are the only objects the manager caches of their kinds.
func (a *Agent) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("nodeagent").
		WithOptions(requeue.ControllerOptions(Workers)).
		For(&corev1.Node{}, builder.WithPredicates(predicate.Funcs{
			// Node status changes (heartbeats) do not change what runs there.
			UpdateFunc: func(event.UpdateEvent) bool { return false },
		})).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
			if name := obj.(*corev1.Pod).Spec.NodeName; name != "" {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: name}}}
			}
			return nil
		})).
		Complete(requeue.OnConflict(a))
}
