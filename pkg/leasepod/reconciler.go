package leasepod

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// Pod condition reasons and events besides the lease's own reasons.
const (
	ReasonGranted   = "Granted"
	ReasonNameTaken = "LeaseNameTaken"

	EventLeaseCreated  = "LeaseCreated"
	EventLeaseGranted  = "LeaseGranted"
	EventLeaseFailed   = "LeaseFailed"
	EventLeaseReleased = "LeaseReleased"
)

// nameTakenRetry is how soon a pod whose lease name is taken by another object looks again:
// the lease of an earlier pod of the same name goes with that pod, once the garbage collector
// gets to it.
const nameTakenRetry = 5 * time.Second

// Reconciler drives a pod that asks for a lease: the lease, the gate, the release.
type Reconciler struct {
	// Pods reads the pods that ask for a lease (a cache of those pods only).
	Pods client.Reader
	// Client reads Leases and Clients and writes Leases and Pods.
	Client   client.Client
	Recorder recorder.EventRecorder
	Clock    clock.PassiveClock
}

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups="",resources=pods/status,verbs=patch
// +kubebuilder:rbac:groups=jumpstarter.dev,resources=leases,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=jumpstarter.dev,resources=clients,verbs=get;list;watch

// Reconcile moves the pod one step: create its lease, let it go once the lease is granted,
// report why it waits, fail it when it can have no lease, or release the lease once the pod is
// done.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	pod := &corev1.Pod{}
	if err := r.Pods.Get(ctx, req.NamespacedName, pod); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	lease := &jumpstarterv1alpha1.Lease{}
	err := r.Client.Get(ctx, req.NamespacedName, lease)
	if client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, fmt.Errorf("get lease of pod %s: %w", req, err)
	}
	if err != nil {
		lease = nil
	} else if !metav1.IsControlledBy(lease, pod) {
		if done(pod) || !gated(pod) {
			return reconcile.Result{}, nil
		}
		return reconcile.Result{RequeueAfter: nameTakenRetry}, r.setCondition(ctx, pod, corev1.ConditionFalse, ReasonNameTaken,
			fmt.Sprintf("lease %s exists and belongs to another object; waiting for it to go", lease.Name))
	}

	switch {
	case done(pod):
		return reconcile.Result{}, r.release(ctx, pod, lease)
	case !gated(pod):
		// Let go already: the lease is the pod's until it finishes or the lease ends.
		return reconcile.Result{}, nil
	case lease == nil:
		return reconcile.Result{}, r.createLease(ctx, pod)
	case isReady(lease):
		return reconcile.Result{}, r.letGo(ctx, pod, lease)
	case lease.Status.Ended:
		reason, message := endOf(lease)
		return reconcile.Result{}, r.fail(ctx, pod, lease, reason, "lease ended before it was granted: "+message)
	}
	reason, message := "Pending", "waiting for lease "+lease.Name
	if c := meta.FindStatusCondition(lease.Status.Conditions, jumpstarterv1alpha1.LeaseConditionPending); c != nil && c.Status == metav1.ConditionTrue {
		reason, message = c.Reason, fmt.Sprintf("lease %s: %s", lease.Name, c.Message)
	}
	return reconcile.Result{}, r.setCondition(ctx, pod, corev1.ConditionFalse, reason, message)
}

// createLease creates the lease the pod asks for, or reports why it cannot.
func (r *Reconciler) createLease(ctx context.Context, pod *corev1.Pod) error {
	clientName, err := clientOf(ctx, r.Client, pod)
	var lease *jumpstarterv1alpha1.Lease
	if err == nil {
		lease, err = newLease(pod, clientName)
	}
	if refused, ok := asRefusal(err); ok {
		return r.fail(ctx, pod, nil, refused.reason, refused.message)
	}
	if err != nil {
		return err
	}
	if err := r.Client.Create(ctx, lease); err != nil {
		if apierrors.IsInvalid(err) {
			return r.fail(ctx, pod, nil, ReasonInvalidRequest, err.Error())
		}
		// AlreadyExists: the cache has not shown our lease yet; the watch brings it.
		return client.IgnoreAlreadyExists(err)
	}
	klog.FromContext(ctx).Info("Lease created for pod", "pod", klog.KObj(pod), "lease", klog.KObj(lease), "client", clientName)
	r.Recorder.Eventf(pod, lease, corev1.EventTypeNormal, EventLeaseCreated, "Lease", "lease %s as client %s", lease.Name, clientName)
	return r.setCondition(ctx, pod, corev1.ConditionFalse, "Pending", "waiting for lease "+lease.Name)
}

// letGo hands the granted lease to the pod and lifts its gate, in one update: a container
// that starts reads the lease's name from the annotation.
func (r *Reconciler) letGo(ctx context.Context, pod *corev1.Pod, lease *jumpstarterv1alpha1.Lease) error {
	pod = pod.DeepCopy()
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[jumpstarterv1alpha1.AnnotationLeaseName] = lease.Name
	pod.Spec.SchedulingGates = slices.DeleteFunc(pod.Spec.SchedulingGates, func(g corev1.PodSchedulingGate) bool {
		return g.Name == jumpstarterv1alpha1.GateLease
	})
	if err := r.Client.Update(ctx, pod); err != nil {
		return fmt.Errorf("let pod %s go: %w", klog.KObj(pod), err)
	}
	exporter := lease.Status.ExporterRef.Name
	klog.FromContext(ctx).Info("Pod let go with its lease", "pod", klog.KObj(pod), "lease", klog.KObj(lease), "exporter", exporter)
	r.Recorder.Eventf(pod, lease, corev1.EventTypeNormal, EventLeaseGranted, "Lease", "lease %s granted exporter %s", lease.Name, exporter)
	return r.setCondition(ctx, pod, corev1.ConditionTrue, ReasonGranted, fmt.Sprintf("lease %s granted exporter %s", lease.Name, exporter))
}

// release gives the lease of a finished pod back, unless it has ended or is being released.
func (r *Reconciler) release(ctx context.Context, pod *corev1.Pod, lease *jumpstarterv1alpha1.Lease) error {
	if lease == nil || lease.Status.Ended || lease.Spec.Release {
		return nil
	}
	patch := client.MergeFrom(lease.DeepCopy())
	lease.Spec.Release = true
	if err := r.Client.Patch(ctx, lease, patch); err != nil {
		return client.IgnoreNotFound(err)
	}
	klog.FromContext(ctx).Info("Lease released: its pod is done", "pod", klog.KObj(pod), "lease", klog.KObj(lease), "phase", pod.Status.Phase)
	r.Recorder.Eventf(pod, lease, corev1.EventTypeNormal, EventLeaseReleased, "Lease", "lease %s released: the pod is done", lease.Name)
	return nil
}

// fail ends a pod whose lease cannot be had (a request that cannot be served, or a lease that
// ended before its grant): phase Failed with the reason, and the lease condition, in one status
// patch. The pod never ran, and a CI system sees it fail at once with the reason instead of
// waiting for its own timeout.
func (r *Reconciler) fail(ctx context.Context, pod *corev1.Pod, lease *jumpstarterv1alpha1.Lease, reason, message string) error {
	patch, err := json.Marshal(map[string]any{"status": map[string]any{
		"phase": corev1.PodFailed, "reason": reason, "message": message,
		"conditions": []corev1.PodCondition{r.condition(corev1.ConditionFalse, reason, message)},
	}})
	if err != nil {
		return err
	}
	target := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name}}
	if err := r.Client.Status().Patch(ctx, target, client.RawPatch(types.StrategicMergePatchType, patch)); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("fail pod %s: %w", klog.KObj(pod), err))
	}
	klog.FromContext(ctx).Info("Pod failed: no lease for it", "pod", klog.KObj(pod), "reason", reason, "message", message)
	r.Recorder.Eventf(pod, lease, corev1.EventTypeWarning, EventLeaseFailed, "Lease", "%s", message)
	return nil
}

func (r *Reconciler) condition(status corev1.ConditionStatus, reason, message string) corev1.PodCondition {
	return corev1.PodCondition{
		Type: jumpstarterv1alpha1.PodConditionLease, Status: status, Reason: reason, Message: message,
		LastTransitionTime: metav1.NewTime(r.Clock.Now()),
	}
}

// conditionDiffers: the pod's lease condition is not already this.
func (r *Reconciler) conditionDiffers(pod *corev1.Pod, status corev1.ConditionStatus, reason, message string) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == jumpstarterv1alpha1.PodConditionLease {
			return c.Status != status || c.Reason != reason || c.Message != message
		}
	}
	return true
}

// setCondition writes the pod's lease condition when it changed, with a strategic merge patch
// that touches no other condition.
func (r *Reconciler) setCondition(ctx context.Context, pod *corev1.Pod, status corev1.ConditionStatus, reason, message string) error {
	if !r.conditionDiffers(pod, status, reason, message) {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.PodCondition{r.condition(status, reason, message)}}})
	if err != nil {
		return err
	}
	target := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name}}
	if err := r.Client.Status().Patch(ctx, target, client.RawPatch(types.StrategicMergePatchType, patch)); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("set lease condition of pod %s: %w", klog.KObj(pod), err))
	}
	return nil
}

// gated: the pod is still held back for its lease.
func gated(pod *corev1.Pod) bool {
	return slices.ContainsFunc(pod.Spec.SchedulingGates, func(g corev1.PodSchedulingGate) bool {
		return g.Name == jumpstarterv1alpha1.GateLease
	})
}

// done: the pod finished or is going away.
func done(pod *corev1.Pod) bool {
	return !pod.DeletionTimestamp.IsZero() || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func isReady(lease *jumpstarterv1alpha1.Lease) bool {
	return !lease.Status.Ended && lease.Status.ExporterRef != nil &&
		meta.IsStatusConditionTrue(lease.Status.Conditions, jumpstarterv1alpha1.LeaseConditionReady)
}

// endOf is why a lease ended: its Unsatisfiable, Invalid or Ready=False condition.
func endOf(lease *jumpstarterv1alpha1.Lease) (reason, message string) {
	for _, t := range []string{jumpstarterv1alpha1.LeaseConditionUnsatisfiable, jumpstarterv1alpha1.LeaseConditionInvalid} {
		if c := meta.FindStatusCondition(lease.Status.Conditions, t); c != nil && c.Status == metav1.ConditionTrue {
			return c.Reason, fmt.Sprintf("lease %s: %s", lease.Name, c.Message)
		}
	}
	if c := meta.FindStatusCondition(lease.Status.Conditions, jumpstarterv1alpha1.LeaseConditionReady); c != nil {
		return c.Reason, fmt.Sprintf("lease %s: %s", lease.Name, c.Message)
	}
	return "Ended", "lease " + lease.Name + " ended"
}
