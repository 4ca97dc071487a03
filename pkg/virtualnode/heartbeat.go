package virtualnode

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Node heartbeat timing, as the kubelet does it: the node Lease is renewed every quarter of its
// duration, and the lifecycle controller's grace period (50 s by default) is longer than both.
const (
	NodeLeaseDuration        = 40 * time.Second
	DefaultHeartbeatInterval = NodeLeaseDuration / 4
)

// renewNodeLease renews the node's Lease in kube-node-lease with one patch, creating it the
// first time. The Lease is owned by the Node so that garbage collection removes it with it.
func renewNodeLease(ctx context.Context, c client.Client, node *corev1.Node, now time.Time) error {
	renew := metav1.NewMicroTime(now)
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: corev1.NamespaceNodeLease, Name: node.Name},
	}
	patch := fmt.Appendf(nil, `{"spec":{"renewTime":%q,"holderIdentity":%q}}`,
		renew.UTC().Format(metav1.RFC3339Micro), node.Name)
	err := c.Patch(ctx, lease, client.RawPatch(types.MergePatchType, patch))
	if !apierrors.IsNotFound(err) {
		return err
	}
	lease = &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: corev1.NamespaceNodeLease,
			Name:      node.Name,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID,
			}},
		},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To(node.Name),
			LeaseDurationSeconds: ptr.To(int32(NodeLeaseDuration / time.Second)),
			RenewTime:            &renew,
		},
	}
	if err := c.Create(ctx, lease); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}
