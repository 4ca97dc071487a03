package plugin

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
)

func TestPreEnqueueHoldsBackOnlyLeasesThatWouldFail(t *testing.T) {
	rpi := func(name string) *v1.Node { return ready(rpiNode(name)).Obj() }
	pod := func() *v1.Pod {
		return placeholder("a").NodeAffinity(leaseAffinity(labNS, map[string]string{"board": "rpi4"})).Priority(5).Obj()
	}
	holder := func(lease, node string, priority int32) *v1.Pod {
		return placeholder(lease).Priority(priority).Node(node).Obj()
	}
	spotHolder := func(lease, node string, priority int32) *v1.Pod {
		return spot(placeholder(lease)).Priority(priority).Node(node).Obj()
	}
	tests := []struct {
		name  string
		nodes []*v1.Node
		pods  []*v1.Pod
		woken string // node the pod was woken for just now
		pod   *v1.Pod
		gated bool
	}{
		{name: "a free exporter: passes", nodes: []*v1.Node{rpi("e1"), rpi("e2")}, pods: []*v1.Pod{holder("b", "e1", 5)}, pod: pod()},
		{name: "every exporter held at equal priority: held back", nodes: []*v1.Node{rpi("e1"), rpi("e2")},
			pods: []*v1.Pod{holder("b", "e1", 5), holder("c", "e2", 9)}, pod: pod(), gated: true},
		{name: "a holder it may preempt: passes", nodes: []*v1.Node{rpi("e1"), rpi("e2")},
			pods: []*v1.Pod{holder("b", "e1", 5), spotHolder("c", "e2", 1)}, pod: pod()},
		{name: "a holder of lower priority that is not spot access: held back", nodes: []*v1.Node{rpi("e1"), rpi("e2")},
			pods: []*v1.Pod{holder("b", "e1", 5), holder("c", "e2", 1)}, pod: pod(), gated: true},
		{name: "a spot holder of equal priority: held back", nodes: []*v1.Node{rpi("e1")},
			pods: []*v1.Pod{spotHolder("b", "e1", 5)}, pod: pod(), gated: true},
		{name: "free exporters that do not match do not count", nodes: []*v1.Node{rpi("e1"), ready(exporterNode("x1", labNS)).Obj()},
			pods: []*v1.Pod{holder("b", "e1", 5)}, pod: pod(), gated: true},
		{name: "a free but offline exporter does not count", nodes: []*v1.Node{rpi("e1"), offline(rpiNode("e2")).Obj()},
			pods: []*v1.Pod{holder("b", "e1", 5)}, pod: pod(), gated: true},
		{name: "a holder that finished no longer holds", nodes: []*v1.Node{rpi("e1")},
			pods: []*v1.Pod{placeholder("b").Priority(5).Node("e1").Phase(v1.PodFailed).Obj()}, pod: pod()},
		{name: "no matching exporter at all: passes, the attempt says why", nodes: []*v1.Node{ready(exporterNode("x1", labNS)).Obj()}, pod: pod()},
		{name: "woken for an exporter: passes", nodes: []*v1.Node{rpi("e1")}, pods: []*v1.Pod{holder("b", "e1", 5)}, woken: "e1", pod: pod()},
		{name: "not a placeholder: passes", nodes: []*v1.Node{rpi("e1")}, pods: []*v1.Pod{holder("b", "e1", 5)}, pod: plainPod("p").Obj()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.addNodes(t, tt.nodes...)
			e.addPods(t, tt.pods...)
			if tt.woken != "" {
				e.plugin.wake.mu.Lock()
				e.plugin.setWakeLocked(tt.woken, tt.pod, e.clock.Now())
				e.plugin.wake.mu.Unlock()
			}
			st := e.plugin.PreEnqueue(e.ctx, tt.pod)
			if gated := !st.IsSuccess(); gated != tt.gated {
				t.Fatalf("PreEnqueue = %v, want gated=%v", st, tt.gated)
			}
			if tt.gated && (st.Code() != fwk.UnschedulableAndUnresolvable || st.Message() != ReasonAllHeld) {
				t.Errorf("status %v, want UnschedulableAndUnresolvable %q", st, ReasonAllHeld)
			}
		})
	}
}

// A wake counts for wakeTTL only: a lease woken long ago that still waits is held back again.
func TestPreEnqueueWakeExpires(t *testing.T) {
	e := newTestEnv(t)
	e.addNodes(t, ready(rpiNode("e1")).Obj())
	e.addPods(t, placeholder("b").Node("e1").Obj())
	pod := placeholder("a").Obj()
	e.plugin.wake.mu.Lock()
	e.plugin.setWakeLocked("e1", pod, e.clock.Now())
	e.plugin.wake.mu.Unlock()
	if st := e.plugin.PreEnqueue(e.ctx, pod); !st.IsSuccess() {
		t.Fatalf("just woken: %v", st)
	}
	e.step(wakeTTL + time.Second)
	if st := e.plugin.PreEnqueue(e.ctx, pod); st.IsSuccess() {
		t.Fatal("woken long ago and still held: passed")
	}
}
