package lease

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/nodeagent"
	"jumpstarter.dev/service/pkg/virtualnode"
)

type fakeRecorder struct{ reasons []string }

func (f *fakeRecorder) Eventf(_, _ any, _, reason, _, _ string, _ ...any) {
	f.reasons = append(f.reasons, reason)
}

type harness struct {
	t      *testing.T
	client client.Client
	clock  *clocktesting.FakeClock
	rec    *Reconciler
	events *fakeRecorder
}

func newHarness(t *testing.T, objs ...client.Object) *harness {
	t.Helper()
	scheme, err := newTestScheme()
	if err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&jumpstarterv1alpha1.Lease{}, &corev1.Pod{}).Build()
	clock := clocktesting.NewFakeClock(now)
	events := &fakeRecorder{}
	return &harness{t: t, client: c, clock: clock, events: events, rec: &Reconciler{
		Client: c, APIReader: c, Recorder: recorderAdapter{events}, Clock: clock, QueueRefresh: DefaultQueueRefresh,
	}}
}

func (h *harness) reconcile(name string) reconcile.Result {
	h.t.Helper()
	res, err := h.rec.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "lab", Name: name}})
	if err != nil {
		h.t.Fatalf("reconcile %s: %v", name, err)
	}
	return res
}

func (h *harness) lease(name string) *jumpstarterv1alpha1.Lease {
	h.t.Helper()
	l := &jumpstarterv1alpha1.Lease{}
	if err := h.client.Get(context.Background(), types.NamespacedName{Namespace: "lab", Name: name}, l); err != nil {
		h.t.Fatal(err)
	}
	return l
}

func (h *harness) pod(name string) (*corev1.Pod, bool) {
	p := &corev1.Pod{}
	err := h.client.Get(context.Background(), types.NamespacedName{Namespace: "lab", Name: PlaceholderName(name)}, p)
	return p, err == nil
}

// bindAndAccept plays the scheduler and the node agent.
func (h *harness) bindAndAccept(name, node string) {
	h.t.Helper()
	p, ok := h.pod(name)
	if !ok {
		h.t.Fatalf("no placeholder for %s", name)
	}
	p.Spec.NodeName = node
	if err := h.client.Update(context.Background(), p); err != nil {
		h.t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	if err := h.client.Status().Update(context.Background(), p); err != nil {
		h.t.Fatal(err)
	}
}

func virtualNode(ns, exporter string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:   virtualnode.NodeName(ns, exporter),
		Labels: map[string]string{jumpstarterv1alpha1.LabelExporterNamespace: ns, jumpstarterv1alpha1.LabelExporterName: exporter},
	}}
}

func TestLeaseLifecycle(t *testing.T) {
	e1 := exporter("e1", map[string]string{"board": "rpi4"}, true, true)
	lease := newLease("l1", func(l *jumpstarterv1alpha1.Lease) { l.Spec.Selector.MatchLabels = map[string]string{"board": "rpi4"} })
	h := newHarness(t, &e1, lease, virtualNode("lab", "e1"))

	res := h.reconcile("l1")
	if _, ok := h.pod("l1"); !ok {
		t.Fatalf("no placeholder created")
	}
	if got := h.lease("l1"); got.Status.Phase != "" {
		t.Errorf("the reconcile that created the placeholder also wrote status %+v; that waits for a reconcile of its own", got.Status)
	}
	if res.RequeueAfter != waitingStatusFallback || res.Priority == nil || *res.Priority != waitingStatusPriority {
		t.Errorf("after creating the placeholder: %+v, want a requeue after %v at priority %d", res, waitingStatusFallback, waitingStatusPriority)
	}
	h.reconcile("l1")
	got := h.lease("l1")
	if got.Status.Phase != jumpstarterv1alpha1.LeasePhasePending || !meta.IsStatusConditionTrue(got.Status.Conditions, jumpstarterv1alpha1.LeaseConditionPending) {
		t.Fatalf("after queueing: phase %s conditions %+v", got.Status.Phase, got.Status.Conditions)
	}
	if got.Status.QueuePosition == nil || *got.Status.QueuePosition != 1 {
		t.Errorf("queue position = %v, want 1", got.Status.QueuePosition)
	}

	h.bindAndAccept("l1", virtualnode.NodeName("lab", "e1"))
	res = h.reconcile("l1")
	got = h.lease("l1")
	if got.Status.ExporterRef == nil || got.Status.ExporterRef.Name != "e1" || got.Status.BeginTime == nil {
		t.Fatalf("not granted: %+v", got.Status)
	}
	if !meta.IsStatusConditionTrue(got.Status.Conditions, jumpstarterv1alpha1.LeaseConditionReady) ||
		!meta.IsStatusConditionFalse(got.Status.Conditions, jumpstarterv1alpha1.LeaseConditionPending) {
		t.Errorf("conditions after grant: %+v", got.Status.Conditions)
	}
	if res.RequeueAfter != time.Minute {
		t.Errorf("requeue after %v, want the lease's duration", res.RequeueAfter)
	}

	h.clock.Step(time.Minute)
	res = h.reconcile("l1")
	got = h.lease("l1")
	if !got.Status.Ended || got.Status.EndTime == nil {
		t.Fatalf("not ended: status %+v", got.Status)
	}
	if got.Labels[jumpstarterv1alpha1.LabelLeaseEnded] == "true" {
		t.Errorf("the end's reconcile also wrote the ended label; that waits for a reconcile of its own")
	}
	if res.RequeueAfter != labelEndedDelay || res.Priority == nil || *res.Priority != labelEndedPriority {
		t.Errorf("after the end: %+v, want a requeue after %v at priority %d for the label", res, labelEndedDelay, labelEndedPriority)
	}
	res = h.reconcile("l1")
	if got = h.lease("l1"); got.Labels[jumpstarterv1alpha1.LabelLeaseEnded] != "true" {
		t.Fatalf("ended lease not labelled: labels %v", got.Labels)
	}
	if res.RequeueAfter != ownWriteSettle {
		t.Errorf("after the label: %+v, want a last look after %v", res, ownWriteSettle)
	}
	if res = h.reconcile("l1"); !res.IsZero() {
		t.Errorf("the last look: %+v, want nothing more", res)
	}
	if n := h.rec.written.Len(); n != 0 {
		t.Errorf("%d own-write records kept after the lease's last write (its label), want none", n)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, jumpstarterv1alpha1.LeaseConditionReady); c == nil || c.Status != metav1.ConditionFalse || c.Reason != jumpstarterv1alpha1.LeaseReasonExpired {
		t.Errorf("Ready condition after expiry: %+v", c)
	}
	if _, ok := h.pod("l1"); ok {
		t.Errorf("placeholder still exists after the lease ended")
	}
	want := []string{EventQueued, EventGranted, jumpstarterv1alpha1.LeaseReasonExpired}
	if len(h.events.reasons) != len(want) {
		t.Fatalf("events %v, want %v", h.events.reasons, want)
	}

	// An ended lease is never granted again, even if a placeholder reappears.
	h.reconcile("l1")
	if _, ok := h.pod("l1"); ok {
		t.Errorf("an ended lease got a placeholder again")
	}
}

func TestLeaseEnds(t *testing.T) {
	rpi := map[string]string{"board": "rpi4"}
	tests := []struct {
		name      string
		lease     func(*jumpstarterv1alpha1.Lease)
		condition string
		reason    string
	}{
		{"released while pending", func(l *jumpstarterv1alpha1.Lease) { l.Spec.Selector.MatchLabels = rpi; l.Spec.Release = true },
			jumpstarterv1alpha1.LeaseConditionReady, jumpstarterv1alpha1.LeaseReasonReleased},
		{"invalid selector", func(l *jumpstarterv1alpha1.Lease) {
			l.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "board", Operator: "Near"}}
		}, jumpstarterv1alpha1.LeaseConditionInvalid, jumpstarterv1alpha1.LeaseReasonInvalidSelector},
		{"no selector, no ref", nil, jumpstarterv1alpha1.LeaseConditionInvalid, jumpstarterv1alpha1.LeaseReasonInvalidSelector},
		{"unsatisfiable", func(l *jumpstarterv1alpha1.Lease) { l.Spec.Selector.MatchLabels = map[string]string{"board": "none"} },
			jumpstarterv1alpha1.LeaseConditionUnsatisfiable, jumpstarterv1alpha1.LeaseReasonNoMatchingExporter},
		{"end time passed before grant", func(l *jumpstarterv1alpha1.Lease) {
			l.Spec.Selector.MatchLabels = rpi
			l.Spec.Duration = nil
			l.Spec.BeginTime = &metav1.Time{Time: now.Add(-2 * time.Hour)}
			l.Spec.EndTime = &metav1.Time{Time: now.Add(-time.Hour)}
		}, jumpstarterv1alpha1.LeaseConditionReady, jumpstarterv1alpha1.LeaseReasonExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e1 := exporter("e1", rpi, true, true)
			h := newHarness(t, &e1, newLease("l1", tt.lease))
			h.reconcile("l1")
			got := h.lease("l1")
			c := meta.FindStatusCondition(got.Status.Conditions, tt.condition)
			if !got.Status.Ended || c == nil || c.Reason != tt.reason {
				t.Fatalf("ended=%v conditions %+v, want %s/%s", got.Status.Ended, got.Status.Conditions, tt.condition, tt.reason)
			}
			if got.Status.BeginTime != nil || got.Status.EndTime != nil {
				t.Errorf("a lease that never started has times: %+v", got.Status)
			}
			if _, ok := h.pod("l1"); ok {
				t.Errorf("ended lease has a placeholder")
			}
		})
	}
}

func TestScheduledLeaseWaitsForBeginTime(t *testing.T) {
	e1 := exporter("e1", map[string]string{"board": "rpi4"}, true, true)
	lease := newLease("l1", func(l *jumpstarterv1alpha1.Lease) {
		l.Spec.Selector.MatchLabels = map[string]string{"board": "rpi4"}
		l.Spec.BeginTime = &metav1.Time{Time: now.Add(time.Hour)}
	})
	h := newHarness(t, &e1, lease)
	res := h.reconcile("l1")
	if _, ok := h.pod("l1"); ok {
		t.Fatalf("scheduled lease got its placeholder before beginTime")
	}
	if res.RequeueAfter != time.Hour || h.lease("l1").Status.Phase != jumpstarterv1alpha1.LeasePhaseScheduled {
		t.Fatalf("requeue %v phase %s", res.RequeueAfter, h.lease("l1").Status.Phase)
	}
	h.clock.Step(time.Hour)
	h.reconcile("l1")
	if _, ok := h.pod("l1"); !ok {
		t.Fatalf("no placeholder at beginTime")
	}
}

func TestPlaceholderDeletedEndsGrantedLease(t *testing.T) {
	e1 := exporter("e1", map[string]string{"board": "rpi4"}, true, true)
	lease := newLease("l1", func(l *jumpstarterv1alpha1.Lease) { l.Spec.Selector.MatchLabels = map[string]string{"board": "rpi4"} })
	h := newHarness(t, &e1, lease, virtualNode("lab", "e1"))
	h.reconcile("l1")
	h.bindAndAccept("l1", virtualnode.NodeName("lab", "e1"))
	h.reconcile("l1")
	p, _ := h.pod("l1")
	if err := h.client.Delete(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	h.reconcile("l1")
	c := meta.FindStatusCondition(h.lease("l1").Status.Conditions, jumpstarterv1alpha1.LeaseConditionReady)
	if !h.lease("l1").Status.Ended || c == nil || c.Reason != jumpstarterv1alpha1.LeaseReasonPlaceholderLost {
		t.Fatalf("conditions %+v", h.lease("l1").Status.Conditions)
	}
}

func TestQueuePosition(t *testing.T) {
	mk := func(name string, created time.Duration, priority int, sel string) jumpstarterv1alpha1.Lease {
		l := newLease(name, func(l *jumpstarterv1alpha1.Lease) {
			l.CreationTimestamp = metav1.NewTime(now.Add(created))
			l.Spec.Selector.MatchLabels = map[string]string{"board": sel}
			l.Status.Priority = priority
			l.Status.PlaceholderPod = PlaceholderName(name)
		})
		return *l
	}
	all := []jumpstarterv1alpha1.Lease{
		mk("a", 0, 0, "rpi4"), mk("b", time.Second, 0, "rpi4"), mk("c", 2*time.Second, 5, "rpi4"),
		mk("d", -time.Second, 0, "jetson"), mk("e", 3*time.Second, 0, "rpi4"),
	}
	want := map[string]int32{"c": 1, "a": 2, "b": 3, "e": 4, "d": 1}
	for i := range all {
		if got, _ := queuePosition(&all[i], all, &queueKeys{}); got != want[all[i].Name] {
			t.Errorf("position of %s = %d, want %d", all[i].Name, got, want[all[i].Name])
		}
	}
}

func TestRefusedPlaceholderIsReplacedNotEnded(t *testing.T) {
	e1 := exporter("e1", map[string]string{"board": "rpi4"}, true, true)
	lease := newLease("l1", func(l *jumpstarterv1alpha1.Lease) { l.Spec.Selector.MatchLabels = map[string]string{"board": "rpi4"} })
	h := newHarness(t, &e1, lease)
	h.reconcile("l1")
	p, _ := h.pod("l1")
	p.Status.Phase = corev1.PodFailed
	p.Status.Reason = "ExporterHeld"
	if err := h.client.Status().Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	h.reconcile("l1") // withdraws the refused pod
	h.reconcile("l1") // queues a new one
	got := h.lease("l1")
	if got.Status.Ended {
		t.Fatalf("a refused placeholder ended the lease: %+v", got.Status.Conditions)
	}
	p, ok := h.pod("l1")
	if !ok || p.Status.Phase == corev1.PodFailed {
		t.Fatalf("no fresh placeholder after refusal: found=%v pod=%+v", ok, p)
	}
}

func TestBeginTimeMovedLaterWithdrawsPlaceholder(t *testing.T) {
	e1 := exporter("e1", map[string]string{"board": "rpi4"}, true, true)
	lease := newLease("l1", func(l *jumpstarterv1alpha1.Lease) { l.Spec.Selector.MatchLabels = map[string]string{"board": "rpi4"} })
	h := newHarness(t, &e1, lease)
	h.reconcile("l1")
	l := h.lease("l1")
	l.Spec.BeginTime = &metav1.Time{Time: now.Add(time.Hour)}
	if err := h.client.Update(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	h.reconcile("l1")
	h.reconcile("l1")
	if _, ok := h.pod("l1"); ok {
		t.Fatalf("placeholder kept although the lease now starts in an hour")
	}
	if got := h.lease("l1"); got.Status.Ended || got.Status.Phase != jumpstarterv1alpha1.LeasePhaseScheduled {
		t.Fatalf("status %+v", got.Status)
	}
}

func TestRefreshAfterBoundsWrites(t *testing.T) {
	for _, tt := range []struct {
		queued int
		want   time.Duration
	}{{1, 10 * time.Second}, {100, 10 * time.Second}, {500, 50 * time.Second}, {5000, 500 * time.Second}} {
		if got := refreshAfter(10*time.Second, tt.queued); got != tt.want {
			t.Errorf("refreshAfter(10s, %d) = %v, want %v", tt.queued, got, tt.want)
		}
	}
}

func TestSpreadRefreshIsWithinHalfToOneAndAHalf(t *testing.T) {
	const d = 10 * time.Second
	seen := map[time.Duration]bool{}
	for range 1000 {
		got := spreadRefresh(d)
		if got < d/2 || got >= d*3/2 {
			t.Fatalf("spreadRefresh(%v) = %v, want within [%v, %v)", d, got, d/2, d*3/2)
		}
		seen[got.Truncate(time.Second)] = true
	}
	// 1000 uniform draws miss one of ten one-second bins with a chance of about 10 * 0.9^1000.
	if len(seen) != 10 {
		t.Errorf("1000 refreshes fell in %d of the ten seconds from 5 s to 15 s, want all ten", len(seen))
	}
}

// admitterFunc plays the node agent's admission.
type admitterFunc func(pod *corev1.Pod) bool

func (f admitterFunc) Admit(_ context.Context, pod *corev1.Pod) (nodeagent.Admission, error) {
	return nodeagent.Admission{Admitted: f(pod)}, nil
}

// bind plays the scheduler alone: the placeholder is bound, not yet Running.
func (h *harness) bind(name, node string) {
	h.t.Helper()
	p, ok := h.pod(name)
	if !ok {
		h.t.Fatalf("no placeholder for %s", name)
	}
	p.Spec.NodeName = node
	if err := h.client.Update(context.Background(), p); err != nil {
		h.t.Fatal(err)
	}
}

// TestGrantOnBinding: with an admitter, the binding itself grants the lease when the node
// agent admits the placeholder, and the grant survives until the placeholder is Running;
// a placeholder the agent does not admit waits for its refusal.
func TestGrantOnBinding(t *testing.T) {
	tests := []struct {
		name        string
		admit       bool
		wantGranted bool
	}{
		{"admitted: granted before Running", true, true},
		{"not admitted: waits for the refusal", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e1 := exporter("e1", map[string]string{"board": "rpi4"}, true, true)
			lease := newLease("l1", func(l *jumpstarterv1alpha1.Lease) { l.Spec.Selector.MatchLabels = map[string]string{"board": "rpi4"} })
			h := newHarness(t, &e1, lease, virtualNode("lab", "e1"))
			var asked int
			h.rec.Admitter = admitterFunc(func(*corev1.Pod) bool { asked++; return tt.admit })

			h.reconcile("l1")
			h.bind("l1", virtualnode.NodeName("lab", "e1"))
			h.reconcile("l1")
			got := h.lease("l1")
			if granted := got.Status.ExporterRef != nil; granted != tt.wantGranted {
				t.Fatalf("granted = %v, want %v (status %+v)", granted, tt.wantGranted, got.Status)
			}
			if asked == 0 {
				t.Errorf("the admitter was never asked")
			}
			if !tt.wantGranted {
				return
			}
			// Still bound, not yet Running: the lease is kept.
			h.reconcile("l1")
			if got := h.lease("l1"); got.Status.Ended {
				t.Errorf("lease ended while its placeholder was bound but not yet Running: %+v", got.Status)
			}
		})
	}
}

// A lease's end is timed from when the grant was written, not from when the reconcile that
// wrote it began: a slow status write must not make the lease end late.
func TestGrantRequeueCountsFromAfterTheWrite(t *testing.T) {
	const writeTakes = 300 * time.Millisecond
	e1 := exporter("e1", map[string]string{"board": "rpi4"}, true, true)
	lease := newLease("l1", func(l *jumpstarterv1alpha1.Lease) { l.Spec.Selector.MatchLabels = map[string]string{"board": "rpi4"} })
	h := newHarness(t, &e1, lease, virtualNode("lab", "e1"))
	h.reconcile("l1")
	h.bindAndAccept("l1", virtualnode.NodeName("lab", "e1"))

	h.rec.Client = interceptor.NewClient(h.client.(client.WithWatch), interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			h.clock.Step(writeTakes)
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	})
	res := h.reconcile("l1")
	got := h.lease("l1")
	if got.Status.BeginTime == nil {
		t.Fatalf("not granted: %+v", got.Status)
	}
	if want := time.Minute - writeTakes; res.RequeueAfter != want {
		t.Errorf("requeue after %v, want %v (the lease's end, counted from after the grant's write)", res.RequeueAfter, want)
	}
}

// TestOwnGrants: the node agent learns of a grant from this reconciler's own writes, before the
// cache shows it, and stops counting the lease once its end is written.
func TestOwnGrants(t *testing.T) {
	e1 := exporter("e1", map[string]string{"board": "rpi4"}, true, true)
	lease := newLease("l1", func(l *jumpstarterv1alpha1.Lease) { l.Spec.Selector.MatchLabels = map[string]string{"board": "rpi4"} })
	h := newHarness(t, &e1, lease, virtualNode("lab", "e1"))
	l1 := []types.NamespacedName{{Namespace: "lab", Name: "l1"}}

	h.reconcile("l1")
	h.bindAndAccept("l1", virtualnode.NodeName("lab", "e1"))
	h.reconcile("l1")
	steps := []struct {
		name                string
		namespace, exporter string
		want                []types.NamespacedName
	}{
		{"granted", "lab", "e1", l1},
		{"another exporter", "lab", "e2", nil},
		{"another namespace", "other", "e1", nil},
	}
	for _, s := range steps {
		if got := h.rec.OwnGrants(s.namespace, s.exporter); !equality.Semantic.DeepEqual(got, s.want) {
			t.Errorf("%s: OwnGrants(%s, %s) = %v, want %v", s.name, s.namespace, s.exporter, got, s.want)
		}
	}

	h.clock.Step(time.Minute)
	h.reconcile("l1")
	if got := h.rec.OwnGrants("lab", "e1"); len(got) != 0 {
		t.Errorf("after the end: OwnGrants = %v, want none", got)
	}
}
