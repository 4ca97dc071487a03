package bench

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/e2e/support"
)

const (
	// workers is how many goroutines create exporters and leases at once.
	workers = 20
	// setupTimeout bounds the creation of a namespace and its exporters, and their nodes
	// turning Ready.
	setupTimeout = 3 * time.Minute
	// cleanupTimeout bounds the deletion of a namespace with everything in it.
	cleanupTimeout = 3 * time.Minute
)

// exporterSpec is one exporter to create, online and enabled.
type exporterSpec struct {
	name   string
	labels map[string]string
}

// namespace is one scenario's namespace with its online exporters and a lease recorder.
type namespace struct {
	name      string
	rec       *support.Recorder
	stopFleet context.CancelFunc
	stopRec   context.CancelFunc
}

// newNamespace creates a namespace, waits for its default ServiceAccount (pod admission needs
// it), creates the exporters online, waits until every virtual node is Ready, and only then
// starts the recorder, so that nothing of the setup is in the figures.
func newNamespace(b *testing.B, e *env, prefix string, exporters []exporterSpec) *namespace {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: prefix + "-" + rand.String(5)}}
	if err := e.client.Create(ctx, ns); err != nil {
		b.Fatalf("create namespace: %v", err)
	}
	n := &namespace{name: ns.Name, stopFleet: func() {}, stopRec: func() {}}
	defer func() {
		if n.rec == nil { // setup failed
			n.delete(b, e)
		}
	}()
	err := watchUntil(ctx, e.client, &corev1.ServiceAccountList{}, func(_ watch.EventType, obj client.Object) bool { return obj != nil },
		client.InNamespace(ns.Name), client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", "default")})
	if err != nil {
		b.Fatalf("namespace %s never got its default ServiceAccount: %v", ns.Name, err)
	}

	fleet := support.NewFleet(e.fleetClient)
	fleetCtx, stopFleet := context.WithCancel(context.Background())
	n.stopFleet = stopFleet
	go fleet.Run(fleetCtx)
	b.Cleanup(stopFleet)
	err = forEach(ctx, len(exporters), func(ctx context.Context, i int) error {
		return fleet.Create(ctx, ns.Name, exporters[i].name, exporters[i].labels, true, true)
	})
	if err != nil {
		b.Fatalf("create exporters: %v", err)
	}
	if err := waitNodesReady(ctx, e.client, ns.Name, len(exporters)); err != nil {
		b.Fatalf("virtual nodes of %s: %v", ns.Name, err)
	}

	recCtx, stopRec := context.WithCancel(context.Background())
	n.stopRec = stopRec
	b.Cleanup(stopRec)
	if n.rec, err = support.StartRecorder(recCtx, e.watchClient, ns.Name); err != nil {
		b.Fatalf("start recorder: %v", err)
	}
	return n
}

// waitNodesReady watches the virtual nodes of the namespace until n of them are Ready.
func waitNodesReady(ctx context.Context, c client.WithWatch, ns string, n int) error {
	ready := map[string]bool{}
	count := func() int {
		k := 0
		for _, r := range ready {
			if r {
				k++
			}
		}
		return k
	}
	err := watchUntil(ctx, c, &corev1.NodeList{}, func(t watch.EventType, obj client.Object) bool {
		if node, ok := obj.(*corev1.Node); ok {
			ready[node.Name] = t != watch.Deleted && nodeReady(node)
		}
		return count() >= n
	}, client.MatchingLabels{jumpstarterv1alpha1.LabelExporterNamespace: ns})
	if err != nil {
		return fmt.Errorf("%d of %d nodes Ready: %w", count(), n, err)
	}
	return nil
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// stop stops the recorder and the fleet. The apiserver of a lab stops quickly only once its
// watches are gone, so this comes before the lab stops.
func (n *namespace) stop() {
	n.stopRec()
	n.stopFleet()
}

// delete stops the recorder and the fleet, deletes the namespace and waits until it is gone
// (its exporters' nodes go before their exporters, so they are gone too).
func (n *namespace) delete(b *testing.B, e *env) {
	b.Helper()
	n.stop()
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n.name}}
	if err := e.client.Delete(ctx, ns); client.IgnoreNotFound(err) != nil {
		b.Errorf("delete namespace %s: %v", n.name, err)
		return
	}
	gone := true // until the list shows it
	err := watchUntil(ctx, e.client, &corev1.NamespaceList{}, func(t watch.EventType, obj client.Object) bool {
		if obj != nil {
			gone = t == watch.Deleted
		}
		return gone
	},
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("metadata.name", n.name)})
	if err != nil {
		b.Errorf("namespace %s was not deleted within %v: %v", n.name, cleanupTimeout, err)
	}
}

// forEach runs fn for 0..n-1 on workers goroutines and returns the first error.
func forEach(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(ctx, i); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return ctx.Err()
	}
}
