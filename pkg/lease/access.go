package lease

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/accesspolicy"
)

// +kubebuilder:rbac:groups=jumpstarter.dev,resources=exporteraccesspolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=scheduling.k8s.io,resources=priorityclasses,verbs=get;list;watch;create

// noAccessMessage tells the user that policies keep them from every exporter they select, and
// which rules would let them in with a shorter lease.
func noAccessMessage(lease *jumpstarterv1alpha1.Lease, access accesspolicy.Access, candidates []labels.Set, target string) string {
	msg := fmt.Sprintf("none of the %d exporters matching %s is open to client %s under the access policies of namespace %s",
		len(candidates), target, lease.Spec.ClientRef.Name, lease.Namespace)
	d := lease.RequestedDuration()
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
