package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/e2e/support"
	"jumpstarter.dev/service/pkg/virtualnode"
)

const waitTimeout = 60 * time.Second

// newNamespace gives a feature its own namespace, with the default ServiceAccount that pod
// admission requires (created by kube-controller-manager).
func newNamespace(ctx context.Context, t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: prefix + "-" + rand.String(5)}}
	if err := shared.client.Create(ctx, ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		err := shared.client.Get(ctx, types.NamespacedName{Namespace: ns.Name, Name: "default"}, &corev1.ServiceAccount{})
		return err == nil, client404(err)
	})
	if err != nil {
		t.Fatalf("namespace %s never got its default ServiceAccount: %v", ns.Name, err)
	}
	return ns.Name
}

func client404(err error) error {
	if err == nil || apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func createExporter(ctx context.Context, t *testing.T, ns, name string, labels map[string]string, online, enabled bool) {
	t.Helper()
	if err := shared.fleet.Create(ctx, ns, name, labels, online, enabled); err != nil {
		t.Fatal(err)
	}
}

func createLease(ctx context.Context, t *testing.T, lease *jumpstarterv1alpha1.Lease) {
	t.Helper()
	if err := shared.client.Create(ctx, lease); err != nil {
		t.Fatalf("create lease %s: %v", lease.Name, err)
	}
}

func waitLease(ctx context.Context, t *testing.T, ns, name string, pred func(*jumpstarterv1alpha1.Lease) bool) *jumpstarterv1alpha1.Lease {
	t.Helper()
	l, err := support.WaitForLease(ctx, shared.client, ns, name, waitTimeout, pred)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func getNode(ctx context.Context, ns, exporter string) (*corev1.Node, error) {
	node := &corev1.Node{}
	err := shared.client.Get(ctx, types.NamespacedName{Name: virtualnode.NodeName(ns, exporter)}, node)
	return node, err
}

// waitNode polls the node until pred holds; node changes are rare, a short poll is fine.
func waitNode(ctx context.Context, t *testing.T, ns, exporter string, pred func(*corev1.Node) bool) *corev1.Node {
	t.Helper()
	var last *corev1.Node
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		node, err := getNode(ctx, ns, exporter)
		if err != nil {
			return false, client404(err)
		}
		last = node
		return pred(node), nil
	})
	if err != nil {
		t.Fatalf("node of exporter %s/%s: %v; last: %+v", ns, exporter, err, last)
	}
	return last
}

func nodeReady(node *corev1.Node) corev1.ConditionStatus {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

// staysPending asserts that the lease is not granted for d.
func staysPending(ctx context.Context, t *testing.T, ns, name string, d time.Duration) {
	t.Helper()
	l, err := support.WaitForLease(ctx, shared.client, ns, name, d, func(l *jumpstarterv1alpha1.Lease) bool {
		return l.Status.ExporterRef != nil || l.Status.Ended
	})
	if err == nil {
		t.Fatalf("lease %s/%s was granted or ended while it should wait: %+v", ns, name, l.Status)
	}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return out
}

func waitNodeGone(ctx context.Context, t *testing.T, ns, exporter string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		_, err := getNode(ctx, ns, exporter)
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("node of exporter %s/%s was not deleted: %v", ns, exporter, err)
	}
}
