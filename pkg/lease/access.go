package lease

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/accesspolicy"
)

// +kubebuilder:rbac:groups=jumpstarter.dev,resources=exporteraccesspolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=jumpstarter.dev,resources=clients,verbs=get;list;watch
// +kubebuilder:rbac:groups=scheduling.k8s.io,resources=priorityclasses,verbs=get;list;watch;create

// accessFor reads what the access policies of the lease's namespace allow its client. Without
// policies it reads nothing more. A policy rule that does not parse opens nothing; it is
// logged, naming the field, and the other rules still apply.
func (r *Reconciler) accessFor(ctx context.Context, lease *jumpstarterv1alpha1.Lease) (accesspolicy.Access, error) {
	policies := &jumpstarterv1alpha1.ExporterAccessPolicyList{}
	if err := r.Client.List(ctx, policies, client.InNamespace(lease.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return accesspolicy.Access{}, fmt.Errorf("list access policies in %s: %w", lease.Namespace, err)
	}
	if len(policies.Items) == 0 {
		return accesspolicy.Access{}, nil
	}
	// A Client that does not exist has no labels: only rules for every client let it in.
	jclient := &jumpstarterv1alpha1.Client{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: lease.Namespace, Name: lease.Spec.ClientRef.Name}, jclient)
	if client.IgnoreNotFound(err) != nil {
		return accesspolicy.Access{}, fmt.Errorf("get client %s of lease %s: %w", lease.Spec.ClientRef.Name, klog.KObj(lease), err)
	}
	access, err := accesspolicy.ForClient(policies.Items, labels.Set(jclient.Labels))
	if err != nil {
		klog.FromContext(ctx).Info("Access policy rules ignored", "namespace", lease.Namespace, "err", err)
	}
	return access, nil
}

// requestedDuration is how long the lease asks for: its duration, or the span between its
// begin and end times.
func requestedDuration(lease *jumpstarterv1alpha1.Lease) time.Duration {
	switch {
	case lease.Spec.Duration != nil:
		return lease.Spec.Duration.Duration
	case lease.Spec.BeginTime != nil && lease.Spec.EndTime != nil:
		return lease.Spec.EndTime.Sub(lease.Spec.BeginTime.Time)
	}
	return 0
}

// noAccessMessage tells the user that policies keep them from every exporter they select, and
// which rules would let them in with a shorter lease.
func noAccessMessage(lease *jumpstarterv1alpha1.Lease, access accesspolicy.Access, candidates []labels.Set, target string) string {
	msg := fmt.Sprintf("none of the %d exporters matching %s is open to client %s under the access policies of namespace %s",
		len(candidates), target, lease.Spec.ClientRef.Name, lease.Namespace)
	d := requestedDuration(lease)
	seen := map[string]bool{}
	for _, c := range candidates {
		for _, rule := range access.TooShort(c, d) {
			if !seen[rule.String()] {
				seen[rule.String()] = true
				msg += fmt.Sprintf("; %s allows leases of at most %s, this one is for %s", rule, rule.MaximumDuration, d)
			}
		}
	}
	return msg
}

// ensurePriorityClass makes sure the PriorityClass that carries a lease priority exists: the
// Priority admission plugin refuses a pod that names a missing one. Classes are created on
// first use and never deleted; they are cluster-wide and cost nothing while unused.
func (r *Reconciler) ensurePriorityClass(ctx context.Context, priority int32) error {
	name := PriorityClassName(priority)
	pc := &schedulingv1.PriorityClass{}
	err := r.Client.Get(ctx, types.NamespacedName{Name: name}, pc)
	if !apierrors.IsNotFound(err) {
		return err
	}
	pc = &schedulingv1.PriorityClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "jumpstarter-controller"},
		},
		Value:       priority,
		Description: "Jumpstarter leases at priority " + strconv.Itoa(int(priority)) + " (from ExporterAccessPolicies)",
	}
	if err := r.Client.Create(ctx, pc); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create priority class %s: %w", name, err)
	}
	return nil
}

// setAccess records in the status the priority and spot access the placeholder was queued
// with, so that they survive a restart with the pod.
func setAccess(lease *jumpstarterv1alpha1.Lease, pod *corev1.Pod) {
	lease.Status.Priority = int(ptr.Deref(pod.Spec.Priority, 0))
	lease.Status.SpotAccess = pod.Labels[jumpstarterv1alpha1.LabelSpotAccess] == "true"
}
