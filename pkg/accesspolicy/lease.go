package accesspolicy

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// ForLease reads what the access policies of the lease's namespace allow its client. Without
// policies it reads nothing more. A Client that does not exist has no labels, so only rules for
// every client let it in. A rule that does not parse opens nothing and is logged, naming the
// field; the other rules still apply. Errors are the reader's.
func ForLease(ctx context.Context, reader client.Reader, lease *jumpstarterv1alpha1.Lease) (Access, error) {
	policies := &jumpstarterv1alpha1.ExporterAccessPolicyList{}
	if err := reader.List(ctx, policies, client.InNamespace(lease.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return Access{}, fmt.Errorf("list access policies in %s: %w", lease.Namespace, err)
	}
	if len(policies.Items) == 0 {
		return Access{}, nil
	}
	jclient := &jumpstarterv1alpha1.Client{}
	err := reader.Get(ctx, types.NamespacedName{Namespace: lease.Namespace, Name: lease.Spec.ClientRef.Name}, jclient)
	if client.IgnoreNotFound(err) != nil {
		return Access{}, fmt.Errorf("get client %s of lease %s: %w", lease.Spec.ClientRef.Name, klog.KObj(lease), err)
	}
	access, err := ForClient(policies.Items, labels.Set(jclient.Labels))
	if err != nil {
		klog.FromContext(ctx).Info("Access policy rules ignored", "namespace", lease.Namespace, "err", err)
	}
	return access, nil
}
