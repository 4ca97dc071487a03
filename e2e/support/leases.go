package support

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// NewLease is a lease on any exporter matching labels, for d.
func NewLease(namespace, name string, labels map[string]string, d time.Duration) *jumpstarterv1alpha1.Lease {
	return &jumpstarterv1alpha1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: jumpstarterv1alpha1.LeaseSpec{
			ClientRef: corev1.LocalObjectReference{Name: "e2e"},
			Duration:  &metav1.Duration{Duration: d},
			Selector:  metav1.LabelSelector{MatchLabels: labels},
		},
	}
}

// IsReady: granted and not ended.
func IsReady(l *jumpstarterv1alpha1.Lease) bool {
	return !l.Status.Ended && meta.IsStatusConditionTrue(l.Status.Conditions, jumpstarterv1alpha1.LeaseConditionReady)
}

// IsEnded: ended, for whatever reason.
func IsEnded(l *jumpstarterv1alpha1.Lease) bool { return l.Status.Ended }

// HasCondition is a predicate on one condition's status and reason.
func HasCondition(condType string, status metav1.ConditionStatus, reason string) func(*jumpstarterv1alpha1.Lease) bool {
	return func(l *jumpstarterv1alpha1.Lease) bool {
		c := meta.FindStatusCondition(l.Status.Conditions, condType)
		return c != nil && c.Status == status && (reason == "" || c.Reason == reason)
	}
}

// WaitForLease watches one lease until pred holds or the timeout passes.
func WaitForLease(ctx context.Context, c client.WithWatch, namespace, name string, timeout time.Duration, pred func(*jumpstarterv1alpha1.Lease) bool) (*jumpstarterv1alpha1.Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := &jumpstarterv1alpha1.Lease{}
	for ctx.Err() == nil {
		list := &jumpstarterv1alpha1.LeaseList{}
		if err := c.List(ctx, list, client.InNamespace(namespace), client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", name)}); err != nil {
			continue
		}
		for i := range list.Items {
			last = &list.Items[i]
			if pred(last) {
				return last, nil
			}
		}
		w, err := c.Watch(ctx, &jumpstarterv1alpha1.LeaseList{}, client.InNamespace(namespace),
			client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", name)},
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		if err != nil {
			continue
		}
		for ev := range w.ResultChan() {
			if l, ok := ev.Object.(*jumpstarterv1alpha1.Lease); ok && ev.Type != watch.Error {
				last = l
				if pred(l) {
					w.Stop()
					return l, nil
				}
			}
		}
		w.Stop()
	}
	return last, fmt.Errorf("lease %s/%s: condition not met within %v; last status: phase=%s ended=%v conditions=%v",
		namespace, name, timeout, last.Status.Phase, last.Status.Ended, conditionSummary(last.Status.Conditions))
}

func conditionSummary(conds []metav1.Condition) string {
	s := ""
	for _, c := range conds {
		s += fmt.Sprintf("[%s=%s %s: %s]", c.Type, c.Status, c.Reason, c.Message)
	}
	return s
}
