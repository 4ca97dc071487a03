package plugin

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"

	jsv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// fire calls a hint for every pod as the queue does for one event, last pod first so that the
// answer cannot depend on the order, and returns the names of the pods that got Queue.
func fire(t *testing.T, hint fwk.QueueingHintFn, pods []*v1.Pod, oldObj, newObj interface{}) []string {
	t.Helper()
	logger, _ := ktesting.NewTestContext(t)
	got := []string{}
	for i := len(pods) - 1; i >= 0; i-- {
		h, err := hint(logger, pods[i], oldObj, newObj)
		if err != nil {
			t.Fatalf("hint for %s: %v", pods[i].Name, err)
		}
		if h == fwk.Queue {
			got = append(got, pods[i].Name)
		}
	}
	slices.Sort(got)
	return got
}

func expectQueued(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: queued %v, want %v", what, got, want)
	}
}

// waitingLease is a placeholder selecting rpi4 exporters, created at t0 plus the given seconds.
func waitingLease(lease string, createdSec int) *v1.Pod {
	return createdAfter(rpiLease(lease), createdSec).Obj()
}

func TestReleaseWakesOne(t *testing.T) {
	allowDisabled := func(p *v1.Pod) *v1.Pod {
		p.Annotations = map[string]string{jsv1alpha1.AnnotationAllowDisabled: "true"}
		return p
	}
	deleting := func(p *v1.Pod) *v1.Pod {
		p.DeletionTimestamp = &metav1.Time{Time: t0}
		return p
	}
	nodes := []*v1.Node{
		ready(rpiNode("e1")).Obj(),
		ready(rpiNode("e2")).Obj(),
		disabled(rpiNode("e-disabled")).Obj(),
		offline(rpiNode("e-offline")).Obj(),
	}
	tests := []struct {
		name     string
		waiting  []*v1.Pod // the hint is asked about these, and the pod cache holds them
		others   []*v1.Pod // also in the pod cache, never asked about
		released interface{}
		want     []string
	}{
		{
			name:     "three waiting: only the oldest",
			waiting:  []*v1.Pod{waitingLease("b", 2), waitingLease("a", 1), waitingLease("c", 3)},
			released: placeholder("done").Node("e1").Obj(),
			want:     []string{"lease-a"},
		},
		{
			name:     "tombstone of the released placeholder",
			waiting:  []*v1.Pod{waitingLease("b", 2), waitingLease("a", 1)},
			released: cache.DeletedFinalStateUnknown{Key: labNS + "/lease-done", Obj: placeholder("done").Node("e1").Obj()},
			want:     []string{"lease-a"},
		},
		{
			name:     "same creation time: namespace/name",
			waiting:  []*v1.Pod{waitingLease("b", 1), waitingLease("a", 1)},
			released: placeholder("done").Node("e1").Obj(),
			want:     []string{"lease-a"},
		},
		{
			name: "priority beats age",
			waiting: []*v1.Pod{
				waitingLease("old", 1),
				createdAfter(rpiLease("urgent").Priority(100), 9).Obj(),
				createdAfter(rpiLease("soon").Priority(50), 5).Obj(),
			},
			released: placeholder("done").Node("e1").Obj(),
			want:     []string{"lease-urgent"},
		},
		{
			name: "leases the exporter does not match are never chosen",
			waiting: []*v1.Pod{
				createdAfter(placeholder("jetson").NodeAffinity(leaseAffinity(labNS, map[string]string{"board": "jetson"})), 1).Obj(),
				createdAfter(placeholder("other-ns").Namespace(otherNS).NodeAffinity(leaseAffinity(otherNS, nil)), 2).Obj(),
				waitingLease("rpi", 3),
			},
			released: placeholder("done").Node("e1").Obj(),
			want:     []string{"lease-rpi"},
		},
		{
			name:     "no waiting lease matches",
			waiting:  []*v1.Pod{createdAfter(placeholder("jetson").NodeAffinity(leaseAffinity(labNS, map[string]string{"board": "jetson"})), 1).Obj()},
			released: placeholder("done").Node("e1").Obj(),
		},
		{
			name:     "disabled exporter: the oldest lease that allows disabled",
			waiting:  []*v1.Pod{waitingLease("strict", 1), allowDisabled(waitingLease("lax", 2)), allowDisabled(waitingLease("lax2", 3))},
			released: placeholder("done").Node("e-disabled").Obj(),
			want:     []string{"lease-lax"},
		},
		{
			name:     "disabled exporter: no lease allows disabled",
			waiting:  []*v1.Pod{waitingLease("strict", 1), waitingLease("strict2", 2)},
			released: placeholder("done").Node("e-disabled").Obj(),
		},
		{
			name:     "enabled exporter: a lease that allows disabled competes as usual",
			waiting:  []*v1.Pod{waitingLease("strict", 2), allowDisabled(waitingLease("lax", 1))},
			released: placeholder("done").Node("e1").Obj(),
			want:     []string{"lease-lax"},
		},
		{
			name:     "offline exporter",
			waiting:  []*v1.Pod{waitingLease("a", 1)},
			released: placeholder("done").Node("e-offline").Obj(),
		},
		{
			name:     "nominated placeholder leaves an exporter another placeholder holds",
			waiting:  []*v1.Pod{waitingLease("a", 1)},
			others:   []*v1.Pod{placeholder("holder").Node("e1").Obj()},
			released: placeholder("done").NominatedNodeName("e1").Obj(),
		},
		{
			name:     "a terminal placeholder does not hold the exporter",
			waiting:  []*v1.Pod{waitingLease("a", 1)},
			others:   []*v1.Pod{placeholder("finished").Node("e1").Phase(v1.PodSucceeded).Obj()},
			released: placeholder("done").Node("e1").Obj(),
			want:     []string{"lease-a"},
		},
		{
			name:     "a placeholder bound elsewhere does not hold the exporter",
			waiting:  []*v1.Pod{waitingLease("a", 1)},
			others:   []*v1.Pod{placeholder("elsewhere").Node("e2").Obj()},
			released: placeholder("done").Node("e1").Obj(),
			want:     []string{"lease-a"},
		},
		{
			name: "only pods waiting in this profile's queue are chosen",
			waiting: []*v1.Pod{
				deleting(waitingLease("deleting", 1)),
				createdAfter(rpiLease("gated").SchedulingGates([]string{"example.com/gate"}), 2).Obj(),
				createdAfter(rpiLease("other-scheduler").SchedulerName("default-scheduler"), 3).Obj(),
				waitingLease("ok", 5),
			},
			others:   []*v1.Pod{createdAfter(rpiLease("bound").Node("e2"), 0).Obj()},
			released: placeholder("done").Node("e1").Obj(),
			want:     []string{"lease-ok"},
		},
		{
			name:     "non-placeholder pods are skipped",
			waiting:  []*v1.Pod{createdAfter(plainPod("web"), 0).Obj(), waitingLease("a", 1)},
			released: placeholder("done").Node("e1").Obj(),
			want:     []string{"lease-a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.addNodes(t, nodes...)
			env.addPods(t, tt.waiting...)
			env.addPods(t, tt.others...)
			got := fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, tt.waiting, tt.released, nil)
			expectQueued(t, "release", got, tt.want...)
		})
	}
}

// TestReleasesInARow releases exporters one after the other, as at the end of leases granted
// together: each release wakes a different lease, in queue order, and a lease that was woken
// but not granted competes again once its wake expires.
func TestReleasesInARow(t *testing.T) {
	env := newTestEnv(t)
	for _, n := range []string{"e1", "e2", "e3", "e4"} {
		env.addNodes(t, ready(rpiNode(n)).Obj())
	}
	waiting := []*v1.Pod{waitingLease("c", 3), waitingLease("a", 1), waitingLease("b", 2)}
	env.addPods(t, waiting...)
	release := func(node string) []string {
		return fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, waiting, placeholder("done-"+node).Node(node).Obj(), nil)
	}

	expectQueued(t, "release e1", release("e1"), "lease-a")
	expectQueued(t, "release e2", release("e2"), "lease-b")

	// lease-a is granted e1 (it leaves the queue); lease-b is still on its way to e2.
	granted := waitingLease("a", 1)
	granted.Spec.NodeName = "e1"
	env.addPods(t, granted)
	env.step(wakeTTL / 2)
	expectQueued(t, "release e3", release("e3"), "lease-c")
	expectQueued(t, "release e4, every waiting lease is woken", release("e4"))

	// lease-b's wake (for e2) expires first: it competes again, lease-c is still on its way.
	env.step(wakeTTL/2 + time.Millisecond)
	expectQueued(t, "release e4 after lease-b's wake expired", fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, waiting, placeholder("again").Node("e4").Obj(), nil), "lease-b")
}

// TestPerEventDecision asks about every waiting pod twice for the same event, with the pod
// cache changed in between, as the queue does when a pod was in flight during the event: the
// event wakes one lease, and always the same one.
func TestPerEventDecision(t *testing.T) {
	env := newTestEnv(t)
	env.addNodes(t, ready(rpiNode("e1")).Obj(), ready(rpiNode("e2")).Obj())
	var waiting []*v1.Pod
	for i, name := range []string{"a", "b", "c", "d", "e", "f"} {
		waiting = append(waiting, waitingLease(name, 10+i))
	}
	env.addPods(t, waiting...)
	released := placeholder("done").Node("e1").Obj()
	expectQueued(t, "release", fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, waiting, released, nil), "lease-a")

	older := waitingLease("older", 0)
	env.addPods(t, older)
	all := append([]*v1.Pod{older}, waiting...)
	expectQueued(t, "same release asked again", fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, all, released, nil), "lease-a")
	expectQueued(t, "next release", fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, all, placeholder("done2").Node("e2").Obj(), nil), "lease-older")

	// Decisions go after wakeTTL, wake records after wakeForget.
	count := func() (decisions, wakes int) {
		env.plugin.wake.mu.Lock()
		defer env.plugin.wake.mu.Unlock()
		env.plugin.pruneLocked(env.clock.Now())
		return len(env.plugin.wake.decisions), len(env.plugin.wake.byNode)
	}
	env.step(wakeTTL)
	if d, w := count(); d != 0 || w != 2 {
		t.Errorf("after wakeTTL: %d decisions, %d wakes; want 0 and 2", d, w)
	}
	env.step(wakeForget)
	if d, w := count(); d != 0 || w != 0 {
		t.Errorf("after wakeForget: %d decisions, %d wakes; want none", d, w)
	}
}

func TestNodeHintWakesOne(t *testing.T) {
	tests := []struct {
		name     string
		waiting  []*v1.Pod
		others   []*v1.Pod
		old, new *v1.Node
		want     []string
	}{
		{
			name:    "free exporter comes online: only the oldest",
			waiting: []*v1.Pod{waitingLease("b", 2), waitingLease("a", 1), waitingLease("c", 3)},
			old:     offline(rpiNode("e1")).Obj(),
			new:     ready(rpiNode("e1")).Obj(),
			want:    []string{"lease-a"},
		},
		{
			name:    "exporter added",
			waiting: []*v1.Pod{waitingLease("b", 2), waitingLease("a", 1)},
			new:     ready(rpiNode("e1")).Obj(),
			want:    []string{"lease-a"},
		},
		{
			name:    "held exporter comes online: nobody, its release will wake a lease",
			waiting: []*v1.Pod{waitingLease("b", 2), waitingLease("a", 1)},
			others:  []*v1.Pod{placeholder("holder").Node("e1").Obj()},
			old:     offline(rpiNode("e1")).Obj(),
			new:     ready(rpiNode("e1")).Obj(),
		},
		{
			name:    "held exporter gets the selected label",
			waiting: []*v1.Pod{waitingLease("a", 1)},
			others:  []*v1.Pod{placeholder("holder").Node("e1").Obj()},
			old:     ready(exporterNode("e1", labNS)).Obj(),
			new:     ready(rpiNode("e1")).Obj(),
		},
		{
			name: "relabelled: the oldest lease the exporter became acceptable to",
			waiting: []*v1.Pod{
				createdAfter(placeholder("any").NodeAffinity(leaseAffinity(labNS, nil)), 1).Obj(),
				waitingLease("rpi", 2),
				waitingLease("rpi2", 3),
			},
			old:  ready(exporterNode("e1", labNS)).Obj(),
			new:  ready(rpiNode("e1")).Obj(),
			want: []string{"lease-rpi"},
		},
		{
			name:    "enabled: the oldest lease that did not allow disabled",
			waiting: []*v1.Pod{createdAfter(rpiLease("lax").Annotation(jsv1alpha1.AnnotationAllowDisabled, "true"), 1).Obj(), waitingLease("strict", 2)},
			old:     disabled(rpiNode("e1")).Obj(),
			new:     ready(rpiNode("e1")).Obj(),
			want:    []string{"lease-strict"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.addPods(t, tt.waiting...)
			env.addPods(t, tt.others...)
			var oldObj interface{}
			if tt.old != nil {
				oldObj = tt.old
			}
			got := fire(t, env.plugin.isSchedulableAfterNodeChange, tt.waiting, oldObj, tt.new)
			expectQueued(t, "node change", got, tt.want...)
		})
	}
}

// TestExportersFreedTogether frees exporters through different events at once: each wakes a
// different lease.
func TestExportersFreedTogether(t *testing.T) {
	env := newTestEnv(t)
	env.addNodes(t, ready(rpiNode("e1")).Obj())
	waiting := []*v1.Pod{waitingLease("a", 1), waitingLease("b", 2), waitingLease("c", 3)}
	env.addPods(t, waiting...)
	expectQueued(t, "release e1", fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, waiting, placeholder("done").Node("e1").Obj(), nil), "lease-a")
	expectQueued(t, "e2 comes online", fire(t, env.plugin.isSchedulableAfterNodeChange, waiting, offline(rpiNode("e2")).Obj(), ready(rpiNode("e2")).Obj()), "lease-b")
	expectQueued(t, "e3 added", fire(t, env.plugin.isSchedulableAfterNodeChange, waiting, nil, ready(rpiNode("e3")).Obj()), "lease-c")
}

// TestWokenLeaseGrantedElsewhere: two exporters are freed together, and the lease woken for the
// first is granted the second (Score prefers the exporter released longer ago).
func TestWokenLeaseGrantedElsewhere(t *testing.T) {
	env := newTestEnv(t)
	env.addNodes(t, ready(rpiNode("e1")).Obj(), ready(rpiNode("e2")).Obj(), ready(rpiNode("e3")).Obj())
	a, b, c, d := waitingLease("a", 1), waitingLease("b", 2), waitingLease("c", 3), waitingLease("d", 4)
	env.addPods(t, a, b, c, d)
	release := placeholder("done1").Node("e1").Obj()
	expectQueued(t, "release e1", fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, []*v1.Pod{a, b, c, d}, release, nil), "lease-a")
	expectQueued(t, "release e2", fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, []*v1.Pod{a, b, c, d}, placeholder("done2").Node("e2").Obj(), nil), "lease-b")

	// lease-a, woken for e1, is bound to e2: lease-b lost e2, and e1 is free. lease-b, the
	// first waiting lease, is woken for e1 rather than lease-c.
	aBound := waitingLease("a", 1)
	aBound.Spec.NodeName = "e2"
	env.addPods(t, aBound)
	bound := fire(t, env.plugin.isSchedulableAfterPlaceholderBound, []*v1.Pod{b, c, d}, nil, aBound)
	expectQueued(t, "lease-a granted e2", bound, "lease-b")

	// lease-b is bound to e1, where it was woken: nobody else is woken.
	bBound := waitingLease("b", 2)
	bBound.Spec.NodeName = "e1"
	env.addPods(t, bBound)
	expectQueued(t, "lease-b granted e1", fire(t, env.plugin.isSchedulableAfterPlaceholderBound, []*v1.Pod{c, d}, nil, bBound))
	expectQueued(t, "release e3", fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, []*v1.Pod{c, d}, placeholder("done3").Node("e3").Obj(), nil), "lease-c")
}

// TestWokenLeaseLosesExporter: a lease that was not woken (say a new one, straight from the
// active queue) is granted the exporter another lease was woken for. The woken lease competes
// again at once rather than after wakeTTL.
func TestWokenLeaseLosesExporter(t *testing.T) {
	env := newTestEnv(t)
	env.addNodes(t, ready(rpiNode("e1")).Obj(), ready(rpiNode("e2")).Obj())
	a, b := waitingLease("a", 1), waitingLease("b", 2)
	env.addPods(t, a, b)
	expectQueued(t, "release e1", fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, []*v1.Pod{a, b}, placeholder("done1").Node("e1").Obj(), nil), "lease-a")

	newcomer := waitingLease("new", 9)
	newcomer.Spec.NodeName = "e1"
	env.addPods(t, newcomer)
	expectQueued(t, "newcomer granted e1", fire(t, env.plugin.isSchedulableAfterPlaceholderBound, []*v1.Pod{a, b}, nil, newcomer))
	expectQueued(t, "release e2", fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, []*v1.Pod{a, b}, placeholder("done2").Node("e2").Obj(), nil), "lease-a")
}

func TestBoundHintSkipsOtherPods(t *testing.T) {
	env := newTestEnv(t)
	a := waitingLease("a", 1)
	env.addPods(t, a)
	for _, bound := range []*v1.Pod{plainPod("web").Node("worker").Obj(), placeholder("unbound").Obj()} {
		expectQueued(t, "bound "+bound.Name, fire(t, env.plugin.isSchedulableAfterPlaceholderBound, []*v1.Pod{a}, nil, bound))
	}
}

// TestWokenLeaseDeleted: a woken lease is deleted before it is granted (its lease was
// cancelled). No queueing hint runs for that; the delete handler wakes the next lease through
// the queue's Activate.
func TestWokenLeaseDeleted(t *testing.T) {
	tests := []struct {
		name    string
		deleted func(a *v1.Pod) interface{} // what the informer delivers for lease-a
		holder  *v1.Pod                     // bound to e1 by the time lease-a is deleted
		want    []string
	}{
		{
			name:    "next lease woken",
			deleted: func(a *v1.Pod) interface{} { return a },
			want:    []string{labNS + "/lease-b"},
		},
		{
			name: "tombstone",
			deleted: func(a *v1.Pod) interface{} {
				return cache.DeletedFinalStateUnknown{Key: labNS + "/lease-a", Obj: a}
			},
			want: []string{labNS + "/lease-b"},
		},
		{
			name:    "exporter held meanwhile",
			deleted: func(a *v1.Pod) interface{} { return a },
			holder:  placeholder("holder").Node("e1").Obj(),
		},
		{
			name: "deleted after it was bound: a release, left to the release hint",
			deleted: func(a *v1.Pod) interface{} {
				a = a.DeepCopy()
				a.Spec.NodeName = "e1"
				return a
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.addNodes(t, ready(rpiNode("e1")).Obj())
			a, b, c := waitingLease("a", 1), waitingLease("b", 2), waitingLease("c", 3)
			env.addPods(t, a, b, c)
			expectQueued(t, "release e1", fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, []*v1.Pod{a, b, c}, placeholder("done").Node("e1").Obj(), nil), "lease-a")

			env.deletePods(t, a)
			if tt.holder != nil {
				env.addPods(t, tt.holder)
			}
			env.plugin.onPodDelete(tt.deleted(a))
			got := env.activator.names()
			if tt.want == nil {
				tt.want = []string{}
			}
			if got == nil {
				got = []string{}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("activated %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDeletedPodThatWasNotWoken(t *testing.T) {
	env := newTestEnv(t)
	env.addNodes(t, ready(rpiNode("e1")).Obj())
	a, b := waitingLease("a", 1), waitingLease("b", 2)
	env.addPods(t, a, b)
	expectQueued(t, "release e1", fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, []*v1.Pod{a, b}, placeholder("done").Node("e1").Obj(), nil), "lease-a")
	env.deletePods(t, b)
	env.plugin.onPodDelete(b)
	env.plugin.onPodDelete(plainPod("web").Obj())
	env.plugin.onPodDelete("not a pod")
	if got := env.activator.names(); len(got) != 0 {
		t.Errorf("activated %v, want none", got)
	}
}

// TestExpiredWakeStillGuardsItsExporter: a lease stuck behind a busy queue for longer than
// wakeTTL is woken again for a second exporter. Whichever of the two it is granted, the next
// lease is woken for the other.
func TestExpiredWakeStillGuardsItsExporter(t *testing.T) {
	for _, tt := range []struct{ boundTo, other string }{{"e2", "e1"}, {"e1", "e2"}} {
		t.Run("granted "+tt.boundTo, func(t *testing.T) {
			env := newTestEnv(t)
			env.addNodes(t, ready(rpiNode("e1")).Obj(), ready(rpiNode("e2")).Obj())
			a, b, c := waitingLease("a", 1), waitingLease("b", 2), waitingLease("c", 3)
			env.addPods(t, a, b, c)
			all := []*v1.Pod{a, b, c}
			expectQueued(t, "release e1", fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, all, placeholder("done1").Node("e1").Obj(), nil), "lease-a")
			env.step(wakeTTL + time.Millisecond)
			expectQueued(t, "release e2 after lease-a's wake expired", fire(t, env.plugin.isSchedulableAfterPlaceholderRelease, all, placeholder("done2").Node("e2").Obj(), nil), "lease-a")

			aBound := waitingLease("a", 1)
			aBound.Spec.NodeName = tt.boundTo
			env.addPods(t, aBound)
			expectQueued(t, "lease-a granted "+tt.boundTo, fire(t, env.plugin.isSchedulableAfterPlaceholderBound, []*v1.Pod{b, c}, nil, aBound), "lease-b")
			if w := env.plugin.wake.byNode[tt.other]; w.pod != b.UID {
				t.Errorf("%s: woken %q, want lease-b", tt.other, w.key())
			}
		})
	}
}

// TestConcurrentHintsAndDeletes runs hints, the delete handler and filtering at once, for the
// race detector: the queue calls hints under its lock, but the delete handler runs on an
// informer goroutine and scheduling cycles run PreFilter on the scheduler's.
func TestConcurrentHintsAndDeletes(t *testing.T) {
	env := newTestEnv(t)
	var waiting []*v1.Pod
	for i := range 20 {
		env.addNodes(t, ready(rpiNode(fmt.Sprintf("e%d", i))).Obj())
		waiting = append(waiting, waitingLease(fmt.Sprintf("l%02d", i), i))
	}
	env.addPods(t, waiting...)
	logger, _ := ktesting.NewTestContext(t)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			released := placeholder(fmt.Sprintf("done%d", i)).Node(fmt.Sprintf("e%d", i)).Obj()
			for _, p := range waiting {
				if _, err := env.plugin.isSchedulableAfterPlaceholderRelease(logger, p, released, nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Go(func() {
		for _, p := range waiting[:5] {
			env.plugin.onPodDelete(p)
		}
	})
	// Scheduling cycles read the wakes as reservations meanwhile.
	wg.Go(func() {
		ni := nodeInfo(ready(rpiNode("e0")).Obj())
		for _, p := range waiting {
			env.filter(t, p, ni)
		}
	})
	wg.Wait()
	// Ten exporters released, each woke a different lease.
	env.plugin.wake.mu.Lock()
	defer env.plugin.wake.mu.Unlock()
	seen := map[string]bool{}
	for node, w := range env.plugin.wake.byNode {
		if seen[w.key()] {
			t.Errorf("%s woken twice (again for %s)", w.key(), node)
		}
		seen[w.key()] = true
	}
}
