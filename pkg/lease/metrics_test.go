package lease

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/virtualnode"
)

// withMetrics gives the harness's reconciler metrics on a registry of its own.
func (h *harness) withMetrics() *Metrics {
	h.t.Helper()
	m := NewMetrics(h.client)
	if err := m.Register(prometheus.NewPedanticRegistry()); err != nil {
		h.t.Fatal(err)
	}
	h.rec.Metrics = m
	return m
}

func TestMetricsFollowALease(t *testing.T) {
	const waited, late = 42 * time.Second, 250 * time.Millisecond
	e1 := exporter("e1", map[string]string{"board": "rpi4"}, true, true)
	lease := newLease("l1", func(l *jumpstarterv1alpha1.Lease) {
		l.Spec.Selector.MatchLabels = map[string]string{"board": "rpi4"}
		l.CreationTimestamp = metav1.NewTime(now)
	})
	h := newHarness(t, &e1, lease, virtualNode("lab", "e1"))
	m := h.withMetrics()

	h.reconcile("l1")
	h.reconcile("l1")
	if n := testutil.ToFloat64(m.grants); n != 0 {
		t.Fatalf("grants before the binding = %v", n)
	}
	h.clock.Step(waited)
	h.bindAndAccept("l1", virtualnode.NodeName("lab", "e1"))
	h.reconcile("l1")
	h.reconcile("l1") // nothing new: counts nothing
	if n := testutil.ToFloat64(m.grants); n != 1 {
		t.Errorf("grants = %v, want 1", n)
	}
	if count, sum := histogram(t, m.wait); count != 1 || sum != waited.Seconds() {
		t.Errorf("wait: %d observations summing %vs, want 1 of %vs", count, sum, waited.Seconds())
	}

	h.clock.Step(time.Minute + late)
	h.reconcile("l1")
	h.reconcile("l1") // the label
	if n := testutil.ToFloat64(m.ends.WithLabelValues(jumpstarterv1alpha1.LeaseReasonExpired)); n != 1 {
		t.Errorf("ends{Expired} = %v, want 1", n)
	}
	if count, sum := histogram(t, m.endDelay); count != 1 || sum != late.Seconds() {
		t.Errorf("end delay: %d observations summing %vs, want 1 of %vs", count, sum, late.Seconds())
	}
}

// TestMetricsCountEndsByReason: each end counts once under its reason; the end delay only
// for a granted lease that expired.
func TestMetricsCountEndsByReason(t *testing.T) {
	rpi := map[string]string{"board": "rpi4"}
	tests := []struct {
		name   string
		lease  func(*jumpstarterv1alpha1.Lease)
		reason string
	}{
		{"released while pending", func(l *jumpstarterv1alpha1.Lease) { l.Spec.Selector.MatchLabels = rpi; l.Spec.Release = true },
			jumpstarterv1alpha1.LeaseReasonReleased},
		{"invalid selector", func(l *jumpstarterv1alpha1.Lease) {
			l.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "board", Operator: "Near"}}
		}, jumpstarterv1alpha1.LeaseReasonInvalidSelector},
		{"unsatisfiable", func(l *jumpstarterv1alpha1.Lease) { l.Spec.Selector.MatchLabels = map[string]string{"board": "none"} },
			jumpstarterv1alpha1.LeaseReasonNoMatchingExporter},
		{"expired before any grant", func(l *jumpstarterv1alpha1.Lease) {
			l.Spec.Selector.MatchLabels = rpi
			l.Spec.Duration = nil
			l.Spec.BeginTime = &metav1.Time{Time: now.Add(-2 * time.Hour)}
			l.Spec.EndTime = &metav1.Time{Time: now.Add(-time.Hour)}
		}, jumpstarterv1alpha1.LeaseReasonExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e1 := exporter("e1", rpi, true, true)
			h := newHarness(t, &e1, newLease("l1", tt.lease))
			m := h.withMetrics()
			h.reconcile("l1")
			h.reconcile("l1")
			if n := testutil.ToFloat64(m.ends.WithLabelValues(tt.reason)); n != 1 {
				t.Errorf("ends{%s} = %v, want 1", tt.reason, n)
			}
			if n := testutil.CollectAndCount(m.ends); n != 1 {
				t.Errorf("%d reasons counted, want 1", n)
			}
			if count, _ := histogram(t, m.endDelay); count != 0 {
				t.Errorf("end delay observed %d times for a lease that was never granted", count)
			}
		})
	}
}

// TestMetricsCountOnlyWrittenTransitions: a grant whose status write fails is not counted;
// the retry that succeeds is, once.
func TestMetricsCountOnlyWrittenTransitions(t *testing.T) {
	h, m := boundWithMetrics(t)

	fail := true
	h.rec.Client = interceptor.NewClient(h.client.(client.WithWatch), interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			if fail {
				return apierrors.NewConflict(schema.GroupResource{Group: "jumpstarter.dev", Resource: "leases"}, obj.GetName(), errors.New("changed"))
			}
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	})
	if _, err := h.rec.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "lab", Name: "l1"}}); err == nil {
		t.Fatal("the grant's failed write was not reported")
	}
	if n := testutil.ToFloat64(m.grants); n != 0 {
		t.Errorf("grants after a failed write = %v, want 0", n)
	}
	fail = false
	h.reconcile("l1")
	h.reconcile("l1")
	if n := testutil.ToFloat64(m.grants); n != 1 {
		t.Errorf("grants after the retry = %v, want 1", n)
	}
}

// TestEndCountsOnceWhenThePlaceholderDeleteFails: the end's status is written but its
// placeholder's deletion fails; the end is counted and told (event) once, and the retry only
// deletes the placeholder.
func TestEndCountsOnceWhenThePlaceholderDeleteFails(t *testing.T) {
	h, m := boundWithMetrics(t)
	h.reconcile("l1")

	fail := true
	h.rec.Client = interceptor.NewClient(h.client.(client.WithWatch), interceptor.Funcs{
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			if fail {
				return apierrors.NewServiceUnavailable("try later")
			}
			return c.Delete(ctx, obj, opts...)
		},
	})
	h.clock.Step(time.Minute)
	if _, err := h.rec.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "lab", Name: "l1"}}); err == nil {
		t.Fatal("the failed placeholder deletion was not reported")
	}
	if !h.lease("l1").Status.Ended {
		t.Fatal("the end was not written")
	}
	fail = false
	h.reconcile("l1")
	h.reconcile("l1")
	if _, ok := h.pod("l1"); ok {
		t.Error("the retry did not delete the placeholder")
	}
	if n := testutil.ToFloat64(m.ends.WithLabelValues(jumpstarterv1alpha1.LeaseReasonExpired)); n != 1 {
		t.Errorf("ends{Expired} = %v, want 1", n)
	}
	expired := slices.DeleteFunc(slices.Clone(h.events.reasons), func(r string) bool { return r != jumpstarterv1alpha1.LeaseReasonExpired })
	if len(expired) != 1 {
		t.Errorf("events %v, want one %s", h.events.reasons, jumpstarterv1alpha1.LeaseReasonExpired)
	}
}

func TestLeasesGaugeCountsByNamespaceAndPhase(t *testing.T) {
	scheme, err := newTestScheme()
	if err != nil {
		t.Fatal(err)
	}
	mk := func(ns, name string, phase jumpstarterv1alpha1.LeasePhase, ended bool) client.Object {
		l := newLease(name, nil)
		l.Namespace, l.Status.Phase, l.Status.Ended = ns, phase, ended
		return l
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		mk("lab", "a", jumpstarterv1alpha1.LeasePhaseActive, false),
		mk("lab", "b", jumpstarterv1alpha1.LeasePhasePending, false),
		mk("lab", "c", jumpstarterv1alpha1.LeasePhasePending, false),
		mk("lab", "d", "", false),
		mk("lab", "e", jumpstarterv1alpha1.LeasePhaseEnded, true),
		mk("ci", "f", jumpstarterv1alpha1.LeasePhasePending, true), // ended before its status said more
	).Build()
	m := NewMetrics(c)
	want := `
# HELP jumpstarter_leases Leases by namespace and phase (Pending, Scheduled, Active, Ended; New before the controller wrote any status).
# TYPE jumpstarter_leases gauge
jumpstarter_leases{namespace="ci",phase="Ended"} 1
jumpstarter_leases{namespace="lab",phase="Active"} 1
jumpstarter_leases{namespace="lab",phase="Ended"} 1
jumpstarter_leases{namespace="lab",phase="New"} 1
jumpstarter_leases{namespace="lab",phase="Pending"} 2
`
	if err := testutil.CollectAndCompare(m.leases, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.granted(newLease("l1", nil), now)
	m.ended(jumpstarterv1alpha1.LeaseReasonExpired, now, now)
}

// boundWithMetrics is a harness with metrics whose lease l1 has its placeholder bound to
// exporter e1's node, not yet granted.
func boundWithMetrics(t *testing.T) (*harness, *Metrics) {
	t.Helper()
	e1 := exporter("e1", map[string]string{"board": "rpi4"}, true, true)
	lease := newLease("l1", func(l *jumpstarterv1alpha1.Lease) { l.Spec.Selector.MatchLabels = map[string]string{"board": "rpi4"} })
	h := newHarness(t, &e1, lease, virtualNode("lab", "e1"))
	m := h.withMetrics()
	h.reconcile("l1")
	h.bindAndAccept("l1", virtualnode.NodeName("lab", "e1"))
	return h, m
}

// histogram returns a histogram's observation count and sum.
func histogram(t *testing.T, h prometheus.Histogram) (uint64, float64) {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	h.Collect(ch)
	var out dto.Metric
	if err := (<-ch).Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetHistogram().GetSampleCount(), out.GetHistogram().GetSampleSum()
}
