package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/requeue"
)

// Reasons the agent gives on pods it refuses.
const (
	ReasonExporterHeld   = "ExporterHeld"
	ReasonNotPlaceholder = "NotAnExporterPlaceholder"
)

// Agent reconciles the pods bound to one virtual node.
type Agent struct {
	Client client.Client
	// APIReader reads around the cache: acceptance needs the truth, not a possibly stale copy.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	Clock     clock.PassiveClock
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
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if node.Labels[jumpstarterv1alpha1.LabelExporterName] == "" {
		return reconcile.Result{}, nil
	}

	pods := &corev1.PodList{}
	if err := a.APIReader.List(ctx, pods, client.MatchingFieldsSelector{
		Selector: fields.OneTermEqualSelector("spec.nodeName", node.Name),
	}); err != nil {
		return reconcile.Result{}, fmt.Errorf("list pods on node %s: %w", node.Name, err)
	}

	var errs []error
	var waiting []*corev1.Pod
	holder := ""
	for i := range pods.Items {
		pod := &pods.Items[i]
		switch {
		case !pod.DeletionTimestamp.IsZero():
			// Nothing runs, so nothing needs to stop: confirm the deletion as a kubelet would.
			if err := a.Client.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &pod.UID}); client.IgnoreNotFound(err) != nil {
				errs = append(errs, fmt.Errorf("complete deletion of pod %s: %w", klog.KObj(pod), err))
			}
		case isTerminal(pod):
		case pod.Labels[jumpstarterv1alpha1.LabelLeaseName] == "":
			errs = append(errs, a.refuse(ctx, pod, ReasonNotPlaceholder,
				fmt.Sprintf("node %s is an exporter's virtual node and runs only lease placeholders", node.Name)))
		case pod.Status.Phase == corev1.PodRunning && holder == "":
			holder = pod.Labels[jumpstarterv1alpha1.LabelLeaseName]
		case pod.Status.Phase == corev1.PodRunning:
			// Two accepted placeholders can only come from someone writing pod status by hand;
			// keep the first and refuse the other so that the exporter is never shared.
			errs = append(errs, a.refuse(ctx, pod, ReasonExporterHeld,
				fmt.Sprintf("exporter %s is already held by lease %s", node.Labels[jumpstarterv1alpha1.LabelExporterName], holder)))
		default:
			waiting = append(waiting, pod)
		}
	}

	// Bound but not yet accepted: the oldest wins if the node is free, the rest are refused.
	sort.Slice(waiting, func(i, j int) bool { return olderThan(waiting[i], waiting[j]) })
	for _, pod := range waiting {
		if holder == "" {
			if err := a.accept(ctx, pod); err != nil {
				errs = append(errs, err)
				continue
			}
			holder = pod.Labels[jumpstarterv1alpha1.LabelLeaseName]
			logger.V(2).Info("Accepted placeholder", "pod", klog.KObj(pod), "lease", holder)
			continue
		}
		errs = append(errs, a.refuse(ctx, pod, ReasonExporterHeld,
			fmt.Sprintf("exporter %s is already held by lease %s", node.Labels[jumpstarterv1alpha1.LabelExporterName], holder)))
	}
	return reconcile.Result{}, errors.Join(errs...)
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
	base := pod.DeepCopy()
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
	if err := a.Client.Status().Patch(ctx, pod, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
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
		WithOptions(controller.Options{RateLimiter: requeue.RateLimiter(), MaxConcurrentReconciles: 4}).
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
