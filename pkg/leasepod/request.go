package leasepod

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// DefaultDuration is a lease's duration when the pod does not say: Tekton's default TaskRun
// timeout. The lease is released when the pod finishes, so a longer one costs nothing then.
const DefaultDuration = time.Hour

// refusal is a request that cannot be served as it is: the pod stays held back, with the
// reason in its condition, until its annotations change.
type refusal struct{ reason, message string }

func (r *refusal) Error() string { return r.message }

func refuse(reason, format string, args ...any) error {
	return &refusal{reason: reason, message: fmt.Sprintf(format, args...)}
}

// Refusal reasons on the pod's condition.
const (
	ReasonInvalidRequest = "InvalidLeaseRequest"
	ReasonNoClient       = "NoClient"
)

// newLease builds the lease the pod's annotations ask for, for client.
func newLease(pod *corev1.Pod, clientName string) (*jumpstarterv1alpha1.Lease, error) {
	annotations := pod.Annotations
	lease := &jumpstarterv1alpha1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: pod.Namespace,
			Name:      pod.Name,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: jumpstarterv1alpha1.LeaseSpec{
			ClientRef: corev1.LocalObjectReference{Name: clientName},
			Duration:  &metav1.Duration{Duration: DefaultDuration},
		},
	}
	if s, ok := annotations[jumpstarterv1alpha1.AnnotationLeaseSelector]; ok {
		selector, err := metav1.ParseToLabelSelector(s)
		if err != nil {
			return nil, refuse(ReasonInvalidRequest, "annotation %s: %v", jumpstarterv1alpha1.AnnotationLeaseSelector, err)
		}
		lease.Spec.Selector = *selector
	}
	if name, ok := annotations[jumpstarterv1alpha1.AnnotationLeaseExporter]; ok {
		if name == "" {
			return nil, refuse(ReasonInvalidRequest, "annotation %s: empty", jumpstarterv1alpha1.AnnotationLeaseExporter)
		}
		lease.Spec.ExporterRef = &corev1.LocalObjectReference{Name: name}
	}
	if lease.Spec.ExporterRef == nil && len(lease.Spec.Selector.MatchLabels) == 0 && len(lease.Spec.Selector.MatchExpressions) == 0 {
		return nil, refuse(ReasonInvalidRequest, "annotation %s or %s: one of them must say which exporter",
			jumpstarterv1alpha1.AnnotationLeaseSelector, jumpstarterv1alpha1.AnnotationLeaseExporter)
	}
	if s, ok := annotations[jumpstarterv1alpha1.AnnotationLeaseDuration]; ok {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, refuse(ReasonInvalidRequest, "annotation %s: %q is not a positive duration such as 30m", jumpstarterv1alpha1.AnnotationLeaseDuration, s)
		}
		lease.Spec.Duration.Duration = d
	}
	return lease, nil
}

// clientOf finds the Client the pod leases as: the one its annotation names, or the only one
// in the namespace whose spec.username is the pod's service account. Either way the Client's
// username must be that service account.
func clientOf(ctx context.Context, reader client.Reader, pod *corev1.Pod) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	identity := serviceaccount.MakeUsername(pod.Namespace, sa)
	if name, ok := pod.Annotations[jumpstarterv1alpha1.AnnotationLeaseClient]; ok {
		c := &jumpstarterv1alpha1.Client{}
		err := reader.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: name}, c)
		switch {
		case client.IgnoreNotFound(err) != nil:
			return "", fmt.Errorf("get client %s/%s: %w", pod.Namespace, name, err)
		case err != nil:
			return "", refuse(ReasonNoClient, "annotation %s: client %q does not exist in namespace %s",
				jumpstarterv1alpha1.AnnotationLeaseClient, name, pod.Namespace)
		case ptr.Deref(c.Spec.Username, "") != identity:
			return "", refuse(ReasonNoClient, "annotation %s: client %q has spec.username %q, not the pod's service account %q",
				jumpstarterv1alpha1.AnnotationLeaseClient, name, ptr.Deref(c.Spec.Username, ""), identity)
		}
		return name, nil
	}
	clients := &jumpstarterv1alpha1.ClientList{}
	if err := reader.List(ctx, clients, client.InNamespace(pod.Namespace)); err != nil {
		return "", fmt.Errorf("list clients in %s: %w", pod.Namespace, err)
	}
	var names []string
	for _, c := range clients.Items {
		if ptr.Deref(c.Spec.Username, "") == identity {
			names = append(names, c.Name)
		}
	}
	switch len(names) {
	case 0:
		return "", refuse(ReasonNoClient, "no client in namespace %s has spec.username %q, the pod's service account",
			pod.Namespace, identity)
	case 1:
		return names[0], nil
	}
	return "", refuse(ReasonNoClient, "clients %v in namespace %s all have spec.username %q: name one in annotation %s",
		names, pod.Namespace, identity, jumpstarterv1alpha1.AnnotationLeaseClient)
}

// asRefusal unwraps a refusal.
func asRefusal(err error) (*refusal, bool) {
	var r *refusal
	ok := errors.As(err, &r)
	return r, ok
}
