package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/e2e/support"
)

// Scenario ci-pod: a CI pod that asks for a lease, against a plain lease, one after the other.
const (
	ciPodExporters   = 10
	ciPodRounds      = 50
	ciPodStepTimeout = 30 * time.Second
	ciPodTimeout     = 15 * time.Minute
)

// gateTracer watches the pods of a namespace that ask for a lease and closes a pod's channel
// when a watch event first shows it let go (no jumpstarter.dev/lease gate).
type gateTracer struct {
	mu     sync.Mutex
	letGo  map[string]time.Time
	waitCh map[string]chan struct{}
}

func startGateTracer(ctx context.Context, c client.WithWatch, ns string) (*gateTracer, error) {
	t := &gateTracer{letGo: map[string]time.Time{}, waitCh: map[string]chan struct{}{}}
	err := watchPods(ctx, c, ns, jumpstarterv1alpha1.LabelLeaseRequest, func(_ watch.EventType, pod *corev1.Pod, at time.Time) {
		if !gatedForLease(pod) {
			t.observeLetGo(pod.Name, at)
		}
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func gatedForLease(pod *corev1.Pod) bool {
	return slices.ContainsFunc(pod.Spec.SchedulingGates, func(g corev1.PodSchedulingGate) bool { return g.Name == jumpstarterv1alpha1.GateLease })
}

func (t *gateTracer) channel(pod string) chan struct{} {
	ch, ok := t.waitCh[pod]
	if !ok {
		ch = make(chan struct{})
		t.waitCh[pod] = ch
	}
	return ch
}

func (t *gateTracer) observeLetGo(pod string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, seen := t.letGo[pod]; seen {
		return
	}
	t.letGo[pod] = at
	close(t.channel(pod))
}

// wait returns when the pod was seen let go.
func (t *gateTracer) wait(ctx context.Context, pod string, timeout time.Duration) (time.Time, error) {
	t.mu.Lock()
	ch := t.channel(pod)
	t.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(timeout):
		return time.Time{}, fmt.Errorf("pod %s not let go within %s", pod, timeout)
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.letGo[pod], nil
}

// benchCIPod measures, side by side on idle exporters, how long a CI pod waits to be let go
// with its lease and how long a plain lease waits for Ready: the pod's path adds the
// admission policy, the lease's creation by the controller, and the pod's update.
func benchCIPod(b *testing.B, e *env, results *table) {
	const scenario = "(e) CI pod"
	board := map[string]string{"board": "ci"}
	ns := newNamespace(b, e, "bench-cipod", exportersOnOneBoard(ciPodExporters, board))
	defer ns.delete(b, e)
	ctx, cancel := context.WithTimeout(context.Background(), ciPodTimeout)
	defer cancel()
	for _, obj := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns.name, Name: "builder"}},
		&jumpstarterv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{Namespace: ns.name, Name: "bot"},
			Spec: jumpstarterv1alpha1.ClientSpec{Username: ptr.To("system:serviceaccount:" + ns.name + ":builder")}},
	} {
		if err := e.client.Create(ctx, obj); err != nil {
			b.Fatal(err)
		}
	}
	tracer, err := startGateTracer(ctx, e.watchClient, ns.name)
	if err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	var pods, leases []time.Duration
	var names []string
	for i := range ciPodRounds {
		// A plain lease, as in (a).
		name := fmt.Sprintf("l-%03d", i)
		names = append(names, name)
		created := time.Now()
		if err := e.client.Create(ctx, support.NewLease(ns.name, name, board, time.Hour)); err != nil {
			b.Fatalf("create lease %s: %v", name, err)
		}
		h, err := waitLeases(ctx, ns.rec, []string{name}, ciPodStepTimeout, granted)
		if err != nil {
			fatal(b, results, scenario, ns.rec, err)
		}
		leases = append(leases, h[name].Granted.Sub(created))
		if _, err := releaseAndWait(ctx, e, ns, name, ciPodStepTimeout); err != nil {
			fatal(b, results, scenario, ns.rec, err)
		}

		// A CI pod: annotations only; the admission policy gates it.
		name = fmt.Sprintf("p-%03d", i)
		names = append(names, name) // its lease is named after it
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.name, Name: name, Annotations: map[string]string{
				jumpstarterv1alpha1.AnnotationLeaseSelector: "board=ci",
			}},
			Spec: corev1.PodSpec{ServiceAccountName: "builder", RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "step", Image: "registry.k8s.io/pause:3.10"}}},
		}
		created = time.Now()
		if err := e.client.Create(ctx, pod); err != nil {
			b.Fatalf("create pod %s: %v", name, err)
		}
		letGo, err := tracer.wait(ctx, name, ciPodStepTimeout)
		if err != nil {
			fatal(b, results, scenario, ns.rec, err)
		}
		pods = append(pods, letGo.Sub(created))
		// Done as a kubelet would say (the lab runs none for ordinary pods): the controller
		// releases the lease.
		done := client.RawPatch(types.MergePatchType, []byte(`{"status":{"phase":"Succeeded"}}`))
		if err := e.client.Status().Patch(ctx, &corev1.Pod{ObjectMeta: pod.ObjectMeta}, done); err != nil {
			b.Fatalf("finish pod %s: %v", name, err)
		}
		if _, err := waitLeases(ctx, ns.rec, []string{name}, ciPodStepTimeout, ended); err != nil {
			fatal(b, results, scenario, ns.rec, err)
		}
	}
	b.StopTimer()

	podP50, podP99 := percentile(pods, 0.5), percentile(pods, 0.99)
	leaseP50, leaseP99 := percentile(leases, 0.5), percentile(leases, 0.99)
	results.add(scenario, "pod create → let go with its lease p50 / p99", human(podP50)+" / "+human(podP99), "—")
	results.add(scenario, "plain lease create → Ready p50 / p99, same run", human(leaseP50)+" / "+human(leaseP99), "—")
	results.add(scenario, "pod / plain lease, p50", fmt.Sprintf("%.2fx", float64(podP50)/float64(leaseP50)), "—")
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(podP50), "pod-p50-ms")
	b.ReportMetric(ms(podP99), "pod-p99-ms")
	b.ReportMetric(ms(leaseP50), "lease-p50-ms")
	checkExclusive(b, results, scenario, ns.rec, irregular(ns.rec.History(), names, jumpstarterv1alpha1.LeaseReasonReleased))
}
