package lease

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/accesspolicy"
	"jumpstarter.dev/service/pkg/virtualnode"
)

// grantedLease is a one-minute lease granted exporter e1 at now, and its Running placeholder
// there, as mutatePod leaves it (nil from it: no pod).
func grantedLease(mutatePod func(*corev1.Pod) *corev1.Pod) []client.Object {
	return grantedLeaseOn(true, mutatePod)
}

// grantedLeaseOn is grantedLease, with or without its exporter.
func grantedLeaseOn(withExporter bool, mutatePod func(*corev1.Pod) *corev1.Pod) []client.Object {
	lease := newLease("l1", func(l *jumpstarterv1alpha1.Lease) {
		l.Spec.Selector.MatchLabels = map[string]string{"board": "rpi4"}
		setGranted(l, "e1", metav1.NewMicroTime(now))
		l.Status.PlaceholderPod = PlaceholderName("l1")
	})
	e1 := exporter("e1", map[string]string{"board": "rpi4"}, true, true)
	objs := []client.Object{lease, virtualNode("lab", "e1")}
	if withExporter {
		objs = append(objs, &e1)
	}
	pod := newPlaceholder(lease, accesspolicy.Decision{})
	pod.Spec.NodeName = virtualnode.NodeName("lab", "e1")
	pod.Status.Phase = corev1.PodRunning
	if mutatePod != nil {
		pod = mutatePod(pod)
	}
	if pod != nil {
		objs = append(objs, pod)
	}
	return objs
}

func TestReleaseAhead(t *testing.T) {
	const ahead = time.Second
	preempted := func(p *corev1.Pod) *corev1.Pod {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget,
			Status: corev1.ConditionTrue, Reason: corev1.PodReasonPreemptionByScheduler, Message: "by lab/urgent"})
		return p
	}
	gone := func(*corev1.Pod) *corev1.Pod { return nil }
	tests := []struct {
		name       string
		pod        func(*corev1.Pod) *corev1.Pod
		noExporter bool
		ahead      time.Duration
		at         time.Duration // since the grant
		wantPod    bool
		wantEnded  string // end reason; "" while active
		wantAfter  time.Duration
	}{
		{name: "before the release point: keeps the placeholder until then", at: 30 * time.Second, ahead: ahead,
			wantPod: true, wantAfter: 29 * time.Second},
		{name: "at the release point: gives the placeholder up and waits for the end", at: time.Minute - ahead, ahead: ahead,
			wantAfter: ahead},
		{name: "placeholder gone within the window: released ahead, waits for the end", pod: gone, at: time.Minute - ahead/2, ahead: ahead,
			wantAfter: ahead / 2},
		{name: "placeholder gone before the window: lost", pod: gone, at: 30 * time.Second, ahead: ahead,
			wantEnded: jumpstarterv1alpha1.LeaseReasonPlaceholderLost},
		{name: "preempted within the window: ends as preempted", pod: preempted, at: time.Minute - ahead/2, ahead: ahead,
			wantEnded: jumpstarterv1alpha1.LeaseReasonPreempted},
		{name: "off: keeps the placeholder to the end", at: time.Minute - ahead, wantPod: true, wantAfter: ahead},
		{name: "exporter deleted within the window: ends as such", pod: gone, noExporter: true, at: time.Minute - ahead/2, ahead: ahead,
			wantEnded: jumpstarterv1alpha1.LeaseReasonExporterDeleted},
		{name: "at the end: ends as expired", pod: gone, at: time.Minute, ahead: ahead, wantEnded: jumpstarterv1alpha1.LeaseReasonExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, grantedLeaseOn(!tt.noExporter, tt.pod)...)
			h.rec.ReleaseAhead = tt.ahead
			h.clock.SetTime(now.Add(tt.at))
			res := h.reconcile("l1")
			got := h.lease("l1")
			if _, ok := h.pod("l1"); ok != tt.wantPod {
				t.Errorf("placeholder there = %v, want %v", ok, tt.wantPod)
			}
			if tt.wantEnded != "" {
				if ready := meta.FindStatusCondition(got.Status.Conditions, jumpstarterv1alpha1.LeaseConditionReady); !got.Status.Ended || ready == nil || ready.Reason != tt.wantEnded {
					t.Fatalf("ended %v, Ready %+v; want ended with reason %s", got.Status.Ended, ready, tt.wantEnded)
				}
				return
			}
			if got.Status.Ended || !meta.IsStatusConditionTrue(got.Status.Conditions, jumpstarterv1alpha1.LeaseConditionReady) {
				t.Fatalf("lease no longer active: %+v", got.Status)
			}
			if res.RequeueAfter != tt.wantAfter || res.Priority == nil || *res.Priority != UrgentPriority {
				t.Errorf("result %+v, want an urgent requeue after %v", res, tt.wantAfter)
			}
		})
	}
}

// A lease whose end time moved later after it released its placeholder ahead of the old end
// has handed its exporter on: it ends, and says why.
func TestExtendedAfterReleaseAheadEnds(t *testing.T) {
	h := newHarness(t, grantedLease(nil)...)
	h.rec.ReleaseAhead = time.Second
	h.clock.SetTime(now.Add(time.Minute - time.Second))
	h.reconcile("l1")
	if _, ok := h.pod("l1"); ok {
		t.Fatal("placeholder not released ahead")
	}
	l := h.lease("l1")
	l.Spec.Duration = &metav1.Duration{Duration: time.Hour}
	if err := h.client.Update(h.t.Context(), l); err != nil {
		t.Fatal(err)
	}
	h.reconcile("l1")
	got := h.lease("l1")
	ready := meta.FindStatusCondition(got.Status.Conditions, jumpstarterv1alpha1.LeaseConditionReady)
	if !got.Status.Ended || ready == nil || ready.Reason != jumpstarterv1alpha1.LeaseReasonPlaceholderLost {
		t.Fatalf("ended %v, Ready %+v; want ended as %s", got.Status.Ended, ready, jumpstarterv1alpha1.LeaseReasonPlaceholderLost)
	}
	if want := "after the lease had released its exporter"; !strings.Contains(ready.Message, want) {
		t.Errorf("message %q lacks %q", ready.Message, want)
	}
}

// The grant's requeue comes at the release point when releasing ahead is on.
func TestGrantRequeuesAtTheReleasePoint(t *testing.T) {
	objs := grantedLease(nil)
	lease := objs[0].(*jumpstarterv1alpha1.Lease)
	lease.Status = jumpstarterv1alpha1.LeaseStatus{PlaceholderPod: PlaceholderName("l1")}
	h := newHarness(t, objs...)
	h.rec.ReleaseAhead = time.Second
	res := h.reconcile("l1")
	if got := h.lease("l1"); got.Status.ExporterRef == nil {
		t.Fatalf("not granted: %+v", got.Status)
	}
	if res.RequeueAfter != time.Minute-time.Second {
		t.Errorf("requeue after %v, want %v (the end minus the release ahead)", res.RequeueAfter, time.Minute-time.Second)
	}
}
