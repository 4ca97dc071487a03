package plugin

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	jsv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// rpiLease selects exporters labelled board=rpi4 in the lab namespace.
func rpiLease(lease string) *st.PodWrapper {
	return placeholder(lease).NodeAffinity(leaseAffinity(labNS, map[string]string{"board": "rpi4"}))
}

func rpiNode(name string) *st.NodeWrapper {
	return exporterNode(name, labNS).Label("board", "rpi4")
}

func TestEventsToRegister(t *testing.T) {
	events, err := (&Exporter{}).EventsToRegister(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[fwk.ClusterEvent]bool{
		{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel | fwk.UpdateNodeCondition}: true,
		{Resource: fwk.AssignedPod, ActionType: fwk.Delete}:                                       true,
		{Resource: fwk.AssignedPod, ActionType: fwk.Add}:                                          true,
		{Resource: fwk.TargetPod, ActionType: fwk.Update}:                                         true,
	}
	if len(events) != len(want) {
		t.Fatalf("got %d events, want %d", len(events), len(want))
	}
	for _, e := range events {
		if !want[e.Event] {
			t.Errorf("unexpected event %s", e.Event.Label())
		}
		if e.QueueingHintFn == nil {
			t.Errorf("event %s has no queueing hint", e.Event.Label())
		}
		if e.Event.Resource == fwk.WildCard {
			t.Errorf("wildcard event %s requeues every pod", e.Event.Label())
		}
	}
}

// TestNodeChangeHint checks, with the lease alone waiting and the exporter free, which node
// changes make the exporter acceptable to the lease. TestNodeHintWakesOne covers several leases.
func TestNodeChangeHint(t *testing.T) {
	allowDisabled := rpiLease("a").Annotation(jsv1alpha1.AnnotationAllowDisabled, "true").Obj()
	tests := []struct {
		name     string
		pod      *v1.Pod
		old, new *v1.Node
		want     fwk.QueueingHint
	}{
		{
			name: "matching exporter added online",
			pod:  rpiLease("a").Obj(),
			new:  ready(rpiNode("e1")).Obj(),
			want: fwk.Queue,
		},
		{
			name: "matching exporter added offline",
			pod:  rpiLease("a").Obj(),
			new:  offline(rpiNode("e1")).Obj(),
			want: fwk.QueueSkip,
		},
		{
			name: "exporter of another namespace added online",
			pod:  rpiLease("a").Obj(),
			new:  ready(exporterNode("e1", otherNS).Label("board", "rpi4")).Obj(),
			want: fwk.QueueSkip,
		},
		{
			name: "non-matching exporter added online",
			pod:  rpiLease("a").Obj(),
			new:  ready(exporterNode("e1", labNS).Label("board", "jetson")).Obj(),
			want: fwk.QueueSkip,
		},
		{
			name: "ordinary node added",
			pod:  rpiLease("a").Obj(),
			new:  st.MakeNode().Name("worker").Label(jsv1alpha1.LabelExporterNamespace, labNS).Label("board", "rpi4").Condition(v1.NodeReady, v1.ConditionTrue, "", "").Obj(),
			want: fwk.QueueSkip,
		},
		{
			name: "comes online (ExporterOffline to Ready)",
			pod:  rpiLease("a").Obj(),
			old:  offline(rpiNode("e1")).Obj(),
			new:  ready(rpiNode("e1")).Obj(),
			want: fwk.Queue,
		},
		{
			name: "comes back from Unknown",
			pod:  rpiLease("a").Obj(),
			old:  unknown(rpiNode("e1")).Obj(),
			new:  ready(rpiNode("e1")).Obj(),
			want: fwk.Queue,
		},
		{
			name: "enabled (ExporterDisabled to Ready)",
			pod:  rpiLease("a").Obj(),
			old:  disabled(rpiNode("e1")).Obj(),
			new:  ready(rpiNode("e1")).Obj(),
			want: fwk.Queue,
		},
		{
			name: "enabled, but the lease already accepted disabled",
			pod:  allowDisabled,
			old:  disabled(rpiNode("e1")).Obj(),
			new:  ready(rpiNode("e1")).Obj(),
			want: fwk.QueueSkip,
		},
		{
			name: "comes online disabled, lease does not allow disabled",
			pod:  rpiLease("a").Obj(),
			old:  offline(rpiNode("e1")).Obj(),
			new:  disabled(rpiNode("e1")).Obj(),
			want: fwk.QueueSkip,
		},
		{
			name: "comes online disabled, lease allows disabled",
			pod:  allowDisabled,
			old:  offline(rpiNode("e1")).Obj(),
			new:  disabled(rpiNode("e1")).Obj(),
			want: fwk.Queue,
		},
		{
			name: "gets the label the lease selects",
			pod:  rpiLease("a").Obj(),
			old:  ready(exporterNode("e1", labNS)).Obj(),
			new:  ready(rpiNode("e1")).Obj(),
			want: fwk.Queue,
		},
		{
			name: "gets the label but is offline",
			pod:  rpiLease("a").Obj(),
			old:  offline(exporterNode("e1", labNS)).Obj(),
			new:  offline(rpiNode("e1")).Obj(),
			want: fwk.QueueSkip,
		},
		{
			name: "unrelated label change on an acceptable exporter",
			pod:  rpiLease("a").Obj(),
			old:  ready(rpiNode("e1")).Obj(),
			new:  ready(rpiNode("e1").Label("firmware", "2")).Obj(),
			want: fwk.QueueSkip,
		},
		{
			name: "annotation written on an acceptable exporter",
			pod:  rpiLease("a").Obj(),
			old:  ready(rpiNode("e1")).Obj(),
			new:  ready(rpiNode("e1")).Annotation("example.com/note", "serviced").Obj(),
			want: fwk.QueueSkip,
		},
		{
			name: "goes offline",
			pod:  rpiLease("a").Obj(),
			old:  ready(rpiNode("e1")).Obj(),
			new:  offline(rpiNode("e1")).Obj(),
			want: fwk.QueueSkip,
		},
		{
			name: "loses the selected label",
			pod:  rpiLease("a").Obj(),
			old:  offline(rpiNode("e1")).Obj(),
			new:  ready(exporterNode("e1", labNS)).Obj(),
			want: fwk.QueueSkip,
		},
		{
			name: "non-placeholder pod",
			pod:  plainPod("web").Obj(),
			old:  offline(rpiNode("e1")).Obj(),
			new:  ready(rpiNode("e1")).Obj(),
			want: fwk.QueueSkip,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, _ := ktesting.NewTestContext(t)
			env := newTestEnv(t)
			env.addPods(t, tt.pod)
			pl := env.plugin
			var oldObj, newObj interface{}
			if tt.old != nil {
				oldObj = tt.old
			}
			if tt.new != nil {
				newObj = tt.new
			}
			got, err := pl.isSchedulableAfterNodeChange(logger, tt.pod, oldObj, newObj)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("hint = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPlaceholderReleaseHint checks, with the lease alone waiting, which releases it is woken
// for. TestReleaseWakesOne covers several leases.
func TestPlaceholderReleaseHint(t *testing.T) {
	nodes := []*v1.Node{
		ready(rpiNode("rpi-ready")).Obj(),
		offline(rpiNode("rpi-offline")).Obj(),
		disabled(rpiNode("rpi-disabled")).Obj(),
		ready(exporterNode("jetson", labNS).Label("board", "jetson")).Obj(),
		ready(exporterNode("rpi-other-ns", otherNS).Label("board", "rpi4")).Obj(),
	}
	waiting := rpiLease("waiting").Obj()
	tests := []struct {
		name     string
		pod      *v1.Pod
		released interface{} // the deleted object as the event carries it
		want     fwk.QueueingHint
	}{
		{
			name:     "placeholder deleted from a matching online exporter",
			pod:      waiting,
			released: placeholder("done").Node("rpi-ready").Obj(),
			want:     fwk.Queue,
		},
		{
			name:     "placeholder went terminal on a matching exporter",
			pod:      waiting,
			released: placeholder("done").Node("rpi-ready").Phase(v1.PodSucceeded).Obj(),
			want:     fwk.Queue,
		},
		{
			name:     "tombstone of a placeholder on a matching exporter",
			pod:      waiting,
			released: cache.DeletedFinalStateUnknown{Key: labNS + "/lease-done", Obj: placeholder("done").Node("rpi-ready").Obj()},
			want:     fwk.Queue,
		},
		{
			name:     "nominated placeholder deleted, nominated to a matching exporter",
			pod:      waiting,
			released: placeholder("done").NominatedNodeName("rpi-ready").Obj(),
			want:     fwk.Queue,
		},
		{
			name:     "exporter the lease does not select",
			pod:      waiting,
			released: placeholder("done").Node("jetson").Obj(),
			want:     fwk.QueueSkip,
		},
		{
			name:     "exporter of another namespace",
			pod:      waiting,
			released: placeholder("done").Namespace(otherNS).Node("rpi-other-ns").Obj(),
			want:     fwk.QueueSkip,
		},
		{
			name:     "offline exporter",
			pod:      waiting,
			released: placeholder("done").Node("rpi-offline").Obj(),
			want:     fwk.QueueSkip,
		},
		{
			name:     "disabled exporter, lease does not allow disabled",
			pod:      waiting,
			released: placeholder("done").Node("rpi-disabled").Obj(),
			want:     fwk.QueueSkip,
		},
		{
			name:     "disabled exporter, lease allows disabled",
			pod:      rpiLease("waiting").Annotation(jsv1alpha1.AnnotationAllowDisabled, "true").Obj(),
			released: placeholder("done").Node("rpi-disabled").Obj(),
			want:     fwk.Queue,
		},
		{
			name:     "exporter no longer in the cache",
			pod:      waiting,
			released: placeholder("done").Node("gone").Obj(),
			want:     fwk.QueueSkip,
		},
		{
			name:     "non-placeholder pod deleted from a matching exporter",
			pod:      waiting,
			released: plainPod("daemon").Node("rpi-ready").Obj(),
			want:     fwk.QueueSkip,
		},
		{
			name:     "unscheduled placeholder deleted",
			pod:      waiting,
			released: placeholder("never-granted").Obj(),
			want:     fwk.QueueSkip,
		},
		{
			name:     "the waiting pod itself",
			pod:      waiting,
			released: rpiLease("waiting").Node("rpi-ready").Obj(),
			want:     fwk.QueueSkip,
		},
		{
			name:     "non-placeholder waiting pod",
			pod:      plainPod("web").Obj(),
			released: placeholder("done").Node("rpi-ready").Obj(),
			want:     fwk.QueueSkip,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.addNodes(t, nodes...)
			env.addPods(t, tt.pod)
			got, err := env.plugin.isSchedulableAfterPlaceholderRelease(ktesting.NewLogger(t, ktesting.NewConfig()), tt.pod, tt.released, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("hint = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTargetPodUpdateHint(t *testing.T) {
	tests := []struct {
		name     string
		old, new *v1.Pod
		want     fwk.QueueingHint
	}{
		{
			name: "disabled exporters become allowed",
			old:  placeholder("a").Obj(),
			new:  placeholder("a").Annotation(jsv1alpha1.AnnotationAllowDisabled, "true").Obj(),
			want: fwk.Queue,
		},
		{
			name: "disabled exporters no longer allowed",
			old:  placeholder("a").Annotation(jsv1alpha1.AnnotationAllowDisabled, "true").Obj(),
			new:  placeholder("a").Obj(),
			want: fwk.QueueSkip,
		},
		{
			name: "stops being a placeholder",
			old:  placeholder("a").Obj(),
			new:  plainPod("lease-a").Obj(),
			want: fwk.Queue,
		},
		{
			name: "unrelated label",
			old:  placeholder("a").Obj(),
			new:  placeholder("a").Label("team", "qa").Obj(),
			want: fwk.QueueSkip,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, _ := ktesting.NewTestContext(t)
			got, err := (&Exporter{}).isSchedulableAfterTargetPodUpdate(logger, tt.new, tt.old, tt.new)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("hint = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestHintsThroughRegistration calls the hints as the queue does, through EventsToRegister,
// so a hint wired to the wrong event fails.
func TestHintsThroughRegistration(t *testing.T) {
	env := newTestEnv(t)
	env.addNodes(t, ready(rpiNode("e1")).Obj())
	events, err := env.plugin.EventsToRegister(env.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// hint returns the hint registered for an event as the queue matches it.
	hint := func(event fwk.ClusterEvent) fwk.QueueingHintFn {
		for _, e := range events {
			if framework.MatchClusterEvents(e.Event, event) {
				return e.QueueingHintFn
			}
		}
		t.Fatalf("no event matches %s", event.Label())
		return nil
	}
	logger, _ := ktesting.NewTestContext(t)
	pod := rpiLease("waiting").Obj()
	env.addPods(t, pod)
	if got, err := hint(framework.EventAssignedPodDelete)(logger, pod, placeholder("done").Node("e1").Obj(), nil); err != nil || got != fwk.Queue {
		t.Errorf("AssignedPod/Delete hint = %v, %v; want Queue", got, err)
	}
	// The lease, woken for e1, is granted e2: e1 is free again, and the next lease is woken.
	bound := rpiLease("waiting").Node("e2").Obj()
	next := rpiLease("next").Obj()
	env.addNodes(t, ready(rpiNode("e2")).Obj())
	env.addPods(t, bound, next)
	if got, err := hint(framework.EventAssignedPodAdd)(logger, next, nil, bound); err != nil || got != fwk.Queue {
		t.Errorf("AssignedPod/Add hint = %v, %v; want Queue", got, err)
	}
	third := rpiLease("third").Obj()
	env.addPods(t, third)
	if got, err := hint(fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.UpdateNodeCondition})(logger, third, offline(rpiNode("e3")).Obj(), ready(rpiNode("e3")).Obj()); err != nil || got != fwk.Queue {
		t.Errorf("Node hint = %v, %v; want Queue", got, err)
	}
	if got, err := hint(fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add})(logger, pod, "not a node", ready(rpiNode("e1")).Obj()); err == nil || got != fwk.Queue {
		t.Errorf("Node hint with a bad object = %v, %v; want Queue and an error", got, err)
	}
}
