package plugin

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	"sigs.k8s.io/yaml"
)

// reservedFor is the Filter message for an exporter reserved for a lease in the lab namespace.
func reservedFor(lease string) string {
	return fmt.Sprintf(ReasonReservedFormat, labNS+"/"+lease)
}

// TestReservation filters e1, freshly woken for lease q (priority 0, created at t0+5s), for
// other pods.
func TestReservation(t *testing.T) {
	q := createdAfter(rpiLease("q"), 5).Obj()
	later := func() *st.PodWrapper { return createdAfter(rpiLease("later"), 9) }
	tests := []struct {
		name      string
		pod       *v1.Pod
		node      string    // e1 unless set
		onNode    []*v1.Pod // bound or assumed
		woken     *v1.Pod   // lease q as the pod cache holds it; nil: deleted
		after     time.Duration
		wantCode  fwk.Code
		wantMsg   string
		nominated bool // the pod is nominated: skip the direct Filter call, which adds no nominated pods
	}{
		{
			name:     "later lease of equal priority",
			pod:      later().Obj(),
			woken:    q,
			wantCode: fwk.Pending,
			wantMsg:  reservedFor("q"),
		},
		{
			name:     "same creation time, name after",
			pod:      createdAfter(rpiLease("r"), 5).Obj(),
			woken:    q,
			wantCode: fwk.Pending,
			wantMsg:  reservedFor("q"),
		},
		{
			name:     "older lease of lower priority",
			pod:      createdAfter(rpiLease("low").Priority(-1), 0).Obj(),
			woken:    q,
			wantCode: fwk.Pending,
			wantMsg:  reservedFor("q"),
		},
		{
			name:     "the reserved lease itself",
			pod:      q,
			woken:    q,
			wantCode: fwk.Success,
		},
		{
			name:     "later lease of higher priority",
			pod:      createdAfter(rpiLease("urgent").Priority(10), 9).Obj(),
			woken:    q,
			wantCode: fwk.Success,
		},
		{
			name:     "older lease of equal priority",
			pod:      createdAfter(rpiLease("older"), 1).Obj(),
			woken:    q,
			wantCode: fwk.Success,
		},
		{
			name:     "another exporter",
			pod:      later().Obj(),
			node:     "e2",
			woken:    q,
			wantCode: fwk.Success,
		},
		{
			name:     "just before the reservation expires",
			pod:      later().Obj(),
			woken:    q,
			after:    reservationTTL - time.Millisecond,
			wantCode: fwk.Pending,
			wantMsg:  reservedFor("q"),
		},
		{
			name:     "reservation expired",
			pod:      later().Obj(),
			woken:    q,
			after:    reservationTTL,
			wantCode: fwk.Success,
		},
		{
			name:     "reserved lease bound elsewhere",
			pod:      later().Obj(),
			woken:    createdAfter(rpiLease("q").Node("e2"), 5).Obj(),
			wantCode: fwk.Success,
		},
		{
			name:     "reserved lease deleted",
			pod:      later().Obj(),
			wantCode: fwk.Success,
		},
		{
			name:     "reserved lease being deleted",
			pod:      later().Obj(),
			woken:    createdAfter(rpiLease("q").Terminating(), 5).Obj(),
			wantCode: fwk.Success,
		},
		{
			name:     "reserved lease's pod recreated",
			pod:      later().Obj(),
			woken:    createdAfter(rpiLease("q").UID("uid-q-2"), 5).Obj(),
			wantCode: fwk.Success,
		},
		{
			name:      "nominated for the exporter, equal priority",
			pod:       later().NominatedNodeName("e1").Obj(),
			woken:     q,
			wantCode:  fwk.Success,
			nominated: true,
		},
		{
			name:      "nominated for the exporter, lower priority",
			pod:       later().Priority(-1).NominatedNodeName("e1").Obj(),
			woken:     q,
			wantCode:  fwk.Pending,
			wantMsg:   reservedFor("q"),
			nominated: true,
		},
		{
			name:      "nominated for another exporter",
			pod:       later().NominatedNodeName("e2").Obj(),
			woken:     q,
			wantCode:  fwk.Pending,
			wantMsg:   reservedFor("q"),
			nominated: true,
		},
		{
			// Preemption may evict the holder; its dry run filters e1 without it, and the
			// reservation then rejects the pod (the next case), so e1 is no candidate.
			name:     "held and reserved: held first, a preemption candidate",
			pod:      later().Priority(-1).Obj(),
			onNode:   []*v1.Pod{spot(placeholder("holder")).Priority(-2).Node("e1").Obj()},
			woken:    q,
			wantCode: fwk.Unschedulable,
			wantMsg:  ReasonHeldPrefix + "holder",
		},
		{
			name:     "not a placeholder",
			pod:      plainPod("web").Obj(),
			woken:    q,
			wantCode: fwk.Success,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			if tt.woken != nil {
				env.addPods(t, tt.woken)
			}
			env.reserve("e1", q)
			env.step(tt.after)
			nodeName := tt.node
			if nodeName == "" {
				nodeName = "e1"
			}
			ni := nodeInfo(ready(rpiNode(nodeName)).Obj(), tt.onNode...)

			got := env.filter(t, tt.pod, ni)
			if got.Code() != tt.wantCode || got.Message() != tt.wantMsg {
				t.Errorf("status = %v %q, want %v %q", got.Code(), got.Message(), tt.wantCode, tt.wantMsg)
			}
			if tt.nominated {
				return
			}
			// Without PreFilter's state, Filter reads the wakes itself and must agree.
			direct := env.plugin.Filter(env.ctx, framework.NewCycleState(), tt.pod, ni)
			if direct.Code() != tt.wantCode || direct.Message() != tt.wantMsg {
				t.Errorf("without PreFilter: status = %v %q, want %v %q", direct.Code(), direct.Message(), tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestPreFilterSkipsOtherPods(t *testing.T) {
	env := newTestEnv(t)
	state := framework.NewCycleState()
	if _, status := env.plugin.PreFilter(env.ctx, state, plainPod("web").Obj(), nil); !status.IsSkip() {
		t.Errorf("PreFilter(plain pod) = %v, want Skip", status)
	}
	if _, status := env.plugin.PreFilter(env.ctx, state, placeholder("a").Obj(), nil); !status.IsSuccess() {
		t.Errorf("PreFilter(placeholder) = %v, want success", status)
	}
	if _, err := state.Read(reservationsKey); err != nil {
		t.Errorf("PreFilter wrote no state: %v", err)
	}
}

// TestReservationStopsOvertaking replays the overtaking seen end to end: e1 comes online while
// l-01 and l-02, the oldest leases, back off after failing (the queue does not ask about pods in
// back-off), and l-03 is created at that moment, so it reaches the active queue first. The node
// hint, asked about a lease in the unschedulable pool, wakes l-01; Filter keeps e1 for it.
func TestReservationStopsOvertaking(t *testing.T) {
	env := newTestEnv(t)
	l1, l2, l3, l4 := waitingLease("l-01", 1), waitingLease("l-02", 2), waitingLease("l-03", 9), waitingLease("l-04", 3)
	env.addPods(t, l1, l2, l3, l4)
	online := ready(rpiNode("e1")).Obj()
	env.addNodes(t, online)
	expectQueued(t, "e1 online, l-04 in the pool", fire(t, env.plugin.isSchedulableAfterNodeChange, []*v1.Pod{l4}, offline(rpiNode("e1")).Obj(), online))

	ni := nodeInfo(online)
	for _, p := range []*v1.Pod{l3, l2, l4} {
		if got := env.filter(t, p, ni); got.Code() != fwk.Pending || got.Message() != reservedFor("l-01") {
			t.Errorf("%s on e1: %v, want reserved for l-01", p.Name, got)
		}
	}
	// l-01's back-off ends within the reservation.
	env.step(2 * time.Second)
	if got := env.filter(t, l1, ni); !got.IsSuccess() {
		t.Errorf("l-01 on e1: %v, want success", got)
	}
}

// TestReservedOutLeaseRequeued: lease p was turned away from e1, reserved for the older lease q,
// and waits in the unschedulable pool with this plugin as the rejector. What happens to q
// decides whether p is woken.
func TestReservedOutLeaseRequeued(t *testing.T) {
	tests := []struct {
		name string
		// then changes the pod cache as the event does and returns the pods woken, by the hint
		// the queue runs or by the delete handler's Activate.
		then func(t *testing.T, env *testEnv, q, p, r *v1.Pod) []string
		want []string
		// wantOnE1 is the Filter status code for p on e1 afterwards, with the pods bound to e1.
		wantOnE1 fwk.Code
		onE1     func(q *v1.Pod) []*v1.Pod
	}{
		{
			name: "q deleted: the delete handler wakes p",
			then: func(t *testing.T, env *testEnv, q, _, _ *v1.Pod) []string {
				env.deletePods(t, q)
				env.plugin.onPodDelete(q)
				var names []string
				for _, key := range env.activator.names() {
					names = append(names, key[len(labNS)+1:])
				}
				return names
			},
			want:     []string{"lease-p"},
			wantOnE1: fwk.Success,
		},
		{
			name: "q bound to another exporter: the AssignedPod/Add hint wakes p",
			then: func(t *testing.T, env *testEnv, q, p, r *v1.Pod) []string {
				bound := q.DeepCopy()
				bound.Spec.NodeName = "e2"
				env.addPods(t, bound)
				return fire(t, env.plugin.isSchedulableAfterPlaceholderBound, []*v1.Pod{p, r}, nil, bound)
			},
			want:     []string{"lease-p"},
			wantOnE1: fwk.Success,
		},
		{
			name: "q bound to e1: nobody, e1's release will wake the next lease",
			then: func(t *testing.T, env *testEnv, q, p, r *v1.Pod) []string {
				bound := q.DeepCopy()
				bound.Spec.NodeName = "e1"
				env.addPods(t, bound)
				return fire(t, env.plugin.isSchedulableAfterPlaceholderBound, []*v1.Pod{p, r}, nil, bound)
			},
			wantOnE1: fwk.Pending,
			onE1: func(q *v1.Pod) []*v1.Pod {
				bound := q.DeepCopy()
				bound.Spec.NodeName = "e1"
				return []*v1.Pod{bound}
			},
		},
		{
			name: "the reservation expires: nothing happens, p competes when next woken",
			then: func(_ *testing.T, env *testEnv, _, _, _ *v1.Pod) []string {
				env.step(reservationTTL)
				return nil
			},
			wantOnE1: fwk.Success,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.addNodes(t, ready(rpiNode("e1")).Obj(), ready(rpiNode("e2")).Obj())
			q, p, r := waitingLease("q", 1), waitingLease("p", 2), waitingLease("r", 3)
			env.addPods(t, q, p, r)
			expectQueued(t, "release e1", fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, []*v1.Pod{p, r}, placeholder("done").Node("e1").Obj(), nil))
			e1 := ready(rpiNode("e1")).Obj()
			if got := env.filter(t, p, nodeInfo(e1)); got.Message() != reservedFor("q") {
				t.Fatalf("p on e1: %v, want reserved for q", got)
			}

			got := tt.then(t, env, q, p, r)
			slices.Sort(got)
			expectQueued(t, tt.name, got, tt.want...)
			var onE1 []*v1.Pod
			if tt.onE1 != nil {
				onE1 = tt.onE1(q)
			}
			if got := env.filter(t, p, nodeInfo(e1, onE1...)); got.Code() != tt.wantOnE1 {
				t.Errorf("p on e1 afterwards: %v, want %v", got, tt.wantOnE1)
			}
		})
	}
}

// TestLeaseAheadTakesReservedExporter: a lease of higher priority may take the exporter reserved
// for q. q, woken for it, is not stranded: the AssignedPod/Add hint drops its wake, and the
// next exporter freed wakes q rather than a later lease.
func TestLeaseAheadTakesReservedExporter(t *testing.T) {
	env := newTestEnv(t)
	env.addNodes(t, ready(rpiNode("e1")).Obj(), ready(rpiNode("e2")).Obj())
	q, r := waitingLease("q", 1), waitingLease("r", 2)
	env.addPods(t, q, r)
	expectQueued(t, "release e1", fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, []*v1.Pod{r}, placeholder("done").Node("e1").Obj(), nil))

	urgent := createdAfter(rpiLease("urgent").Priority(10), 9).Obj()
	if got := env.filter(t, urgent, nodeInfo(ready(rpiNode("e1")).Obj())); !got.IsSuccess() {
		t.Fatalf("urgent on e1: %v, want success", got)
	}
	bound := urgent.DeepCopy()
	bound.Spec.NodeName = "e1"
	env.addPods(t, bound)
	// q is on its way (woken, in back-off): the queue asks about r, in the pool.
	expectQueued(t, "urgent granted e1", fire(t, env.plugin.isSchedulableAfterPlaceholderBound, []*v1.Pod{r}, nil, bound))
	// q's attempt fails (e1 held) and it joins the pool.
	expectQueued(t, "release e2", fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, []*v1.Pod{q, r}, placeholder("done2").Node("e2").Obj(), nil), "lease-q")
}

// TestLostWakeWithoutBoundHint: as above, but no pod rejected by this plugin waited when the
// lease of higher priority was bound, so the queue ran no AssignedPod/Add hint and q's wake for
// e1 is still fresh. The wake counts as lost because the pod cache shows e1 held.
func TestLostWakeWithoutBoundHint(t *testing.T) {
	env := newTestEnv(t)
	env.addNodes(t, ready(rpiNode("e1")).Obj(), ready(rpiNode("e2")).Obj())
	q, r := waitingLease("q", 1), waitingLease("r", 2)
	env.addPods(t, q, r)
	env.reserve("e1", q)
	env.addPods(t, createdAfter(rpiLease("urgent").Priority(10), 9).Node("e1").Obj())
	env.step(wakeTTL / 2)
	expectQueued(t, "release e2", fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, []*v1.Pod{q, r}, placeholder("done2").Node("e2").Obj(), nil), "lease-q")
}

// TestReservationTTL ties reservationTTL to the scheduler configuration: a woken lease leaves
// the back-off queue at most podMaxBackoffSeconds plus the queue's one-second ordering window
// after its last failure, and the reservation must last longer. It must not outlast the wake
// either, so that a lease is on its way to one exporter at a time.
func TestReservationTTL(t *testing.T) {
	const configFile = "../../config/scheduler/scheduler-config.yaml"
	data, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		PodMaxBackoffSeconds *int64 `json:"podMaxBackoffSeconds"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	maxBackoff := 10 * time.Second // kube-scheduler's default
	if cfg.PodMaxBackoffSeconds != nil {
		maxBackoff = time.Duration(*cfg.PodMaxBackoffSeconds) * time.Second
	}
	const orderingWindow = time.Second // backoffQOrderingWindowDuration
	if reservationTTL <= maxBackoff+orderingWindow {
		t.Errorf("reservationTTL = %v, want more than podMaxBackoffSeconds (%v) plus the back-off queue's ordering window (%v)",
			reservationTTL, maxBackoff, orderingWindow)
	}
	if reservationTTL > wakeTTL {
		t.Errorf("reservationTTL = %v outlasts wakeTTL = %v", reservationTTL, wakeTTL)
	}
}
