package e2e

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/e2e/support"
	"jumpstarter.dev/service/pkg/lease"
	"jumpstarter.dev/service/pkg/virtualnode"
)

var rpi4 = map[string]string{"board": "rpi4", "site": "lab1"}

func TestExporterBecomesVirtualNode(t *testing.T) {
	f := features.New("exporter -> virtual node").
		Assess("node carries labels, capacity, taint and heartbeats", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "node")
			createExporter(ctx, t, ns, "e1", rpi4, true, true)
			node := waitNode(ctx, t, ns, "e1", func(n *corev1.Node) bool { return nodeReady(n) == corev1.ConditionTrue })
			for k, v := range rpi4 {
				if node.Labels[k] != v {
					t.Errorf("node label %s = %q, want %q", k, node.Labels[k], v)
				}
			}
			if node.Labels[jumpstarterv1alpha1.LabelExporterNamespace] != ns || node.Labels[jumpstarterv1alpha1.LabelExporterName] != "e1" {
				t.Errorf("node labels do not name the exporter: %v", node.Labels)
			}
			if q := node.Status.Allocatable[jumpstarterv1alpha1.ResourceExporter]; q.Value() != 1 {
				t.Errorf("allocatable %s = %v, want 1", jumpstarterv1alpha1.ResourceExporter, q.String())
			}
			if !slices.ContainsFunc(node.Spec.Taints, func(t corev1.Taint) bool {
				return t.Key == jumpstarterv1alpha1.TaintExporterKey && t.Effect == corev1.TaintEffectNoSchedule
			}) {
				t.Errorf("node taints %v lack the exporter taint", node.Spec.Taints)
			}
			// The controller writes the node's Ready condition before it creates the node Lease,
			// in the same reconcile, so the Lease may come a moment after Ready.
			nodeLease := &coordinationv1.Lease{}
			if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
				err := shared.client.Get(ctx, types.NamespacedName{Namespace: corev1.NamespaceNodeLease, Name: node.Name}, nodeLease)
				return err == nil, client404(err)
			}); err != nil {
				t.Errorf("node lease of an online exporter: %v", err)
			}
			// Admission taints every new node not-ready; the lifecycle controller must lift it
			// from an online exporter's node.
			waitNode(ctx, t, ns, "e1", func(n *corev1.Node) bool {
				return !slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == corev1.TaintNodeNotReady })
			})

			// Label changes follow the exporter.
			e := &jumpstarterv1alpha1.Exporter{}
			if err := shared.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "e1"}, e); err != nil {
				t.Fatal(err)
			}
			e.Labels["site"] = "lab2"
			if err := shared.client.Update(ctx, e); err != nil {
				t.Fatal(err)
			}
			waitNode(ctx, t, ns, "e1", func(n *corev1.Node) bool { return n.Labels["site"] == "lab2" })

			// An exporter that goes silent goes offline, and so does its node; the lifecycle
			// controller then taints it.
			shared.fleet.Silence(ns, "e1")
			if err := shared.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "e1"}, e); err != nil {
				t.Fatal(err)
			}
			base := e.DeepCopy()
			e.Status.LastSeen = &metav1.Time{Time: time.Now().Add(-2 * time.Minute)}
			if err := shared.client.Status().Patch(ctx, e, client.MergeFrom(base)); err != nil {
				t.Fatal(err)
			}
			waitNode(ctx, t, ns, "e1", func(n *corev1.Node) bool { return nodeReady(n) == corev1.ConditionFalse })
			waitNode(ctx, t, ns, "e1", func(n *corev1.Node) bool {
				return slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == corev1.TaintNodeNotReady })
			})

			// Deleting the exporter deletes its node.
			if err := shared.client.Delete(ctx, e); err != nil {
				t.Fatal(err)
			}
			waitNodeGone(ctx, t, ns, "e1")
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

func TestLeaseGrant(t *testing.T) {
	f := features.New("lease grant").
		Assess("by selector", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "grant")
			createExporter(ctx, t, ns, "e1", rpi4, true, true)
			createExporter(ctx, t, ns, "other", map[string]string{"board": "jetson"}, true, true)
			createLease(ctx, t, support.NewLease(ns, "l1", map[string]string{"board": "rpi4"}, time.Hour))
			l := waitLease(ctx, t, ns, "l1", support.IsReady)
			if l.Status.ExporterRef.Name != "e1" || l.Status.BeginTime == nil || l.Status.Phase != jumpstarterv1alpha1.LeasePhaseActive {
				t.Errorf("granted lease status: %+v", l.Status)
			}
			if !support.HasCondition(jumpstarterv1alpha1.LeaseConditionPending, metav1.ConditionFalse, "")(l) {
				t.Errorf("Pending is not False after the grant: %+v", l.Status.Conditions)
			}
			// The node agent marks the placeholder Running in a status update of its own, which
			// may land after the grant.
			pod := &corev1.Pod{}
			err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
				if err := shared.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: l.Status.PlaceholderPod}, pod); err != nil {
					return false, client404(err)
				}
				return pod.Status.Phase == corev1.PodRunning, nil
			})
			if err != nil || !strings.HasSuffix(pod.Spec.NodeName, ".e1") {
				t.Errorf("placeholder %s on %q phase %s: %v", l.Status.PlaceholderPod, pod.Spec.NodeName, pod.Status.Phase, err)
			}
			waitExporterLeasedBy(ctx, t, ns, "e1", "l1")
			return ctx
		}).
		Assess("by exporterRef", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "pinned")
			createExporter(ctx, t, ns, "e1", rpi4, true, true)
			createExporter(ctx, t, ns, "e2", rpi4, true, true)
			l := support.NewLease(ns, "pinned", nil, time.Hour)
			l.Spec.ExporterRef = &corev1.LocalObjectReference{Name: "e2"}
			createLease(ctx, t, l)
			if got := waitLease(ctx, t, ns, "pinned", support.IsReady); got.Status.ExporterRef.Name != "e2" {
				t.Errorf("pinned lease got %s", got.Status.ExporterRef.Name)
			}
			return ctx
		}).
		Assess("same exporter name in two namespaces: two nodes, each lease in its own namespace", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			nsA, nsB := newNamespace(ctx, t, "twin"), newNamespace(ctx, t, "twin")
			createExporter(ctx, t, nsA, "board", rpi4, true, true)
			createExporter(ctx, t, nsB, "board", rpi4, true, true)
			createLease(ctx, t, support.NewLease(nsA, "a", rpi4, time.Hour))
			createLease(ctx, t, support.NewLease(nsB, "b", rpi4, time.Hour))
			for _, ns := range []string{nsA, nsB} {
				name := map[string]string{nsA: "a", nsB: "b"}[ns]
				l := waitLease(ctx, t, ns, name, support.IsReady)
				pod := &corev1.Pod{}
				if err := shared.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: l.Status.PlaceholderPod}, pod); err != nil {
					t.Fatal(err)
				}
				if want := virtualnode.NodeName(ns, "board"); pod.Spec.NodeName != want {
					t.Errorf("lease %s/%s runs on node %s, want its own namespace's %s", ns, name, pod.Spec.NodeName, want)
				}
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

func waitExporterLeasedBy(ctx context.Context, t *testing.T, ns, exporter, leaseName string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		e := &jumpstarterv1alpha1.Exporter{}
		if err := shared.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: exporter}, e); err != nil {
			return false, client404(err)
		}
		if leaseName == "" {
			return e.Status.LeaseRef == nil, nil
		}
		return e.Status.LeaseRef != nil && e.Status.LeaseRef.Name == leaseName, nil
	})
	if err != nil {
		t.Fatalf("exporter %s/%s status.leaseRef never became %q: %v", ns, exporter, leaseName, err)
	}
}

func TestContention(t *testing.T) {
	f := features.New("contention").
		Assess("3 exporters, 10 leases: exclusive, in order, all served", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "contention")
			for _, e := range names("e", 3) {
				createExporter(ctx, t, ns, e, rpi4, true, true)
			}
			rec, err := support.StartRecorder(ctx, shared.client, ns)
			if err != nil {
				t.Fatal(err)
			}
			leaseNames := names("l", 10)
			for _, n := range leaseNames {
				createLease(ctx, t, support.NewLease(ns, n, map[string]string{"board": "rpi4"}, 3*time.Second))
				time.Sleep(20 * time.Millisecond) // distinct creation order
			}
			if err := rec.WaitAll(ctx, leaseNames, 2*time.Minute, func(h support.LeaseHistory) bool { return !h.Ended.IsZero() }); err != nil {
				t.Fatal(err)
			}
			if v := rec.Violations(); len(v) > 0 {
				t.Fatalf("double grants: %v", v)
			}
			assertServedInOrder(t, rec, leaseNames, time.Second)
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// assertServedInOrder: every lease was granted once, expired, and no lease was granted more
// than slack before one created earlier (FIFO within one priority).
func assertServedInOrder(t *testing.T, rec *support.Recorder, leaseNames []string, slack time.Duration) {
	t.Helper()
	h := rec.History()
	for i, n := range leaseNames {
		if h[n].Grants != 1 || h[n].EndReason != jumpstarterv1alpha1.LeaseReasonExpired {
			t.Errorf("lease %s: grants=%d end reason %q, want one grant and Expired", n, h[n].Grants, h[n].EndReason)
		}
		for _, earlier := range leaseNames[:i] {
			if h[n].Granted.Add(slack).Before(h[earlier].Granted) {
				t.Errorf("lease %s granted at %v, before %s (created earlier) at %v", n, h[n].Granted, earlier, h[earlier].Granted)
			}
		}
	}
	order := append([]string(nil), leaseNames...)
	sort.Slice(order, func(i, j int) bool { return h[order[i]].Granted.Before(h[order[j]].Granted) })
	t.Logf("grant order: %v", order)
}

func TestExpiryAndRelease(t *testing.T) {
	f := features.New("lease end").
		Assess("expires at its end time", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "expiry")
			createExporter(ctx, t, ns, "e1", rpi4, true, true)
			before := controllerMetrics(ctx, t)
			createLease(ctx, t, support.NewLease(ns, "short", rpi4, 2*time.Second))
			granted := waitLease(ctx, t, ns, "short", support.IsReady)
			expired := support.HasCondition(jumpstarterv1alpha1.LeaseConditionReady, metav1.ConditionFalse, jumpstarterv1alpha1.LeaseReasonExpired)
			// The ended label is written right after the status.
			ended := waitLease(ctx, t, ns, "short", func(l *jumpstarterv1alpha1.Lease) bool {
				return expired(l) && l.Labels[jumpstarterv1alpha1.LabelLeaseEnded] == "true"
			})
			if !ended.Status.Ended || ended.Status.EndTime == nil {
				t.Errorf("expired lease: labels %v status %+v", ended.Labels, ended.Status)
			}
			held := ended.Status.EndTime.Sub(granted.Status.BeginTime.Time)
			if held < 2*time.Second || held > 4*time.Second { // early never; late by at most 2 s on a loaded CI runner
				t.Errorf("a 2 s lease was held for %v", held)
			}
			assertPodGone(ctx, t, ns, lease.PlaceholderName("short"))

			// The controller's metrics saw it. Other tests share the controller, so the
			// process-wide counters only grow; the gauge of this namespace is exact.
			after := controllerMetrics(ctx, t)
			for _, m := range []struct {
				name   string
				labels map[string]string
			}{
				{"jumpstarter_lease_grants_total", nil},
				{"jumpstarter_lease_wait_seconds", nil},
				{"jumpstarter_lease_ends_total", map[string]string{"reason": jumpstarterv1alpha1.LeaseReasonExpired}},
				{"jumpstarter_lease_end_delay_seconds", nil},
			} {
				if metricValue(after, m.name, m.labels) < metricValue(before, m.name, m.labels)+1 {
					t.Errorf("did not grow by the lease: %s", metricsDelta(before, after, m.name, m.labels))
				}
			}
			// The gauges read the controller's cache, which may see the end a moment after us.
			gauges := []struct {
				name   string
				labels map[string]string
			}{
				{"jumpstarter_leases", map[string]string{"namespace": ns, "phase": "Ended"}},
				{"jumpstarter_exporters", map[string]string{"namespace": ns, "online": "true", "enabled": "true", "leased": "false"}},
			}
			err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
				after = controllerMetrics(ctx, t)
				for _, g := range gauges {
					if metricValue(after, g.name, g.labels) != 1 {
						return false, nil
					}
				}
				return true, nil
			})
			if err != nil {
				for _, g := range gauges {
					if v := metricValue(after, g.name, g.labels); v != 1 {
						t.Errorf("%s%v = %v, want 1", g.name, g.labels, v)
					}
				}
			}
			return ctx
		}).
		Assess("expiry hands the exporter on: the next placeholder is bound before the end, granted after it", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "ahead")
			createExporter(ctx, t, ns, "e1", rpi4, true, true)
			rec, err := support.StartRecorder(ctx, shared.client, ns)
			if err != nil {
				t.Fatal(err)
			}
			createLease(ctx, t, support.NewLease(ns, "first", rpi4, 4*time.Second))
			waitLease(ctx, t, ns, "first", support.IsReady)
			createLease(ctx, t, support.NewLease(ns, "second", rpi4, time.Hour))
			// The pod is read before the lease: bound then, and the lease not ended after that,
			// means bound before the end.
			err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
				pod := &corev1.Pod{}
				if err := shared.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: lease.PlaceholderName("second")}, pod); client.IgnoreNotFound(err) != nil {
					return false, err
				}
				first := &jumpstarterv1alpha1.Lease{}
				if err := shared.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "first"}, first); err != nil {
					return false, err
				}
				if first.Status.Ended {
					return false, fmt.Errorf("lease first ended before the next placeholder was bound (bound to %q)", pod.Spec.NodeName)
				}
				return pod.Spec.NodeName != "", nil
			})
			if err != nil {
				t.Fatal(err)
			}
			second := waitLease(ctx, t, ns, "second", support.IsReady)
			first := waitLease(ctx, t, ns, "first", support.IsEnded)
			if second.Status.BeginTime.Before(first.Status.EndTime) {
				t.Errorf("second granted at %v, before the first ended at %v", second.Status.BeginTime, first.Status.EndTime)
			}
			// The recorder checked every watch event: never two Ready leases on the exporter. Its
			// watch may lag behind the reads above, so first let it see the end and the grant.
			if err := rec.WaitAll(ctx, []string{"first"}, waitTimeout, func(h support.LeaseHistory) bool { return !h.Ended.IsZero() }); err != nil {
				t.Fatal(err)
			}
			if err := rec.WaitAll(ctx, []string{"second"}, waitTimeout, func(h support.LeaseHistory) bool { return !h.Granted.IsZero() }); err != nil {
				t.Fatal(err)
			}
			if v := rec.Violations(); len(v) > 0 {
				t.Fatalf("double grants: %v", v)
			}
			return ctx
		}).
		Assess("release hands the exporter to the next lease", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "release")
			createExporter(ctx, t, ns, "e1", rpi4, true, true)
			createLease(ctx, t, support.NewLease(ns, "first", rpi4, time.Hour))
			waitLease(ctx, t, ns, "first", support.IsReady)
			createLease(ctx, t, support.NewLease(ns, "second", rpi4, time.Hour))
			waiting := waitLease(ctx, t, ns, "second", support.HasCondition(jumpstarterv1alpha1.LeaseConditionPending, metav1.ConditionTrue, jumpstarterv1alpha1.LeaseReasonNotAvailable))
			if waiting.Status.QueuePosition == nil || *waiting.Status.QueuePosition != 1 {
				t.Errorf("queue position of the waiting lease = %v, want 1", waiting.Status.QueuePosition)
			}
			release(ctx, t, ns, "first")
			waitLease(ctx, t, ns, "first", support.HasCondition(jumpstarterv1alpha1.LeaseConditionReady, metav1.ConditionFalse, jumpstarterv1alpha1.LeaseReasonReleased))
			if got := waitLease(ctx, t, ns, "second", support.IsReady); got.Status.ExporterRef.Name != "e1" {
				t.Errorf("second lease got %s", got.Status.ExporterRef.Name)
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

func TestPlaceholderDeletedByHand(t *testing.T) {
	f := features.New("placeholder deleted by hand").
		Assess("ends the granted lease with a reason that says so", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "podgone")
			createExporter(ctx, t, ns, "e1", rpi4, true, true)
			createLease(ctx, t, support.NewLease(ns, "l1", rpi4, time.Hour))
			l := waitLease(ctx, t, ns, "l1", support.IsReady)
			if out, err := shared.lab.Kubectl(ctx, "delete", "pod", l.Status.PlaceholderPod, "-n", ns); err != nil {
				t.Fatalf("kubectl delete pod: %v\n%s", err, out)
			}
			ended := waitLease(ctx, t, ns, "l1", support.IsEnded)
			if c := meta.FindStatusCondition(ended.Status.Conditions, jumpstarterv1alpha1.LeaseConditionReady); c == nil || c.Reason != jumpstarterv1alpha1.LeaseReasonPlaceholderLost ||
				!strings.Contains(c.Message, l.Status.PlaceholderPod) {
				t.Errorf("Ready condition after the placeholder was deleted: %+v", c)
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

func release(ctx context.Context, t *testing.T, ns, name string) {
	t.Helper()
	l := &jumpstarterv1alpha1.Lease{}
	if err := shared.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, l); err != nil {
		t.Fatal(err)
	}
	base := l.DeepCopy()
	l.Spec.Release = true
	if err := shared.client.Patch(ctx, l, client.MergeFrom(base)); err != nil {
		t.Fatalf("release %s: %v", name, err)
	}
}

func assertPodGone(ctx context.Context, t *testing.T, ns, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		err := shared.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &corev1.Pod{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Errorf("pod %s/%s still exists: %v", ns, name, err)
	}
}
