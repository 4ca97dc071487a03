package plugin

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	jsv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

func TestFilter(t *testing.T) {
	allowDisabled := func(w *st.PodWrapper) *st.PodWrapper {
		return w.Annotation(jsv1alpha1.AnnotationAllowDisabled, "true")
	}
	tests := []struct {
		name      string
		pod       *v1.Pod
		node      *v1.Node
		onNode    []*v1.Pod // bound or assumed
		nominated []*v1.Pod
		wantCode  fwk.Code
		wantMsg   string
	}{
		{
			name:     "free online exporter",
			pod:      placeholder("a").Obj(),
			node:     ready(exporterNode("e1", labNS)).Obj(),
			wantCode: fwk.Success,
		},
		{
			name:     "not a virtual node",
			pod:      placeholder("a").Obj(),
			node:     st.MakeNode().Name("worker-1").Condition(v1.NodeReady, v1.ConditionTrue, "", "KubeletReady").Obj(),
			wantCode: fwk.UnschedulableAndUnresolvable,
			wantMsg:  ReasonNotExporter,
		},
		{
			name:     "offline: Ready False, reason ExporterOffline",
			pod:      placeholder("a").Obj(),
			node:     offline(exporterNode("e1", labNS)).Obj(),
			wantCode: fwk.UnschedulableAndUnresolvable,
			wantMsg:  ReasonOffline,
		},
		{
			name:     "offline: Ready Unknown",
			pod:      placeholder("a").Obj(),
			node:     unknown(exporterNode("e1", labNS)).Obj(),
			wantCode: fwk.UnschedulableAndUnresolvable,
			wantMsg:  ReasonOffline,
		},
		{
			name:     "offline: no Ready condition",
			pod:      placeholder("a").Obj(),
			node:     exporterNode("e1", labNS).Obj(),
			wantCode: fwk.UnschedulableAndUnresolvable,
			wantMsg:  ReasonOffline,
		},
		{
			name:     "offline: allowing disabled does not allow offline",
			pod:      allowDisabled(placeholder("a")).Obj(),
			node:     offline(exporterNode("e1", labNS)).Obj(),
			wantCode: fwk.UnschedulableAndUnresolvable,
			wantMsg:  ReasonOffline,
		},
		{
			name:     "disabled, pod does not allow disabled",
			pod:      placeholder("a").Obj(),
			node:     disabled(exporterNode("e1", labNS)).Obj(),
			wantCode: fwk.UnschedulableAndUnresolvable,
			wantMsg:  ReasonDisabled,
		},
		{
			name:     "disabled, annotation other than \"true\"",
			pod:      placeholder("a").Annotation(jsv1alpha1.AnnotationAllowDisabled, "yes").Obj(),
			node:     disabled(exporterNode("e1", labNS)).Obj(),
			wantCode: fwk.UnschedulableAndUnresolvable,
			wantMsg:  ReasonDisabled,
		},
		{
			name:     "disabled, pod allows disabled",
			pod:      allowDisabled(placeholder("a")).Obj(),
			node:     disabled(exporterNode("e1", labNS)).Obj(),
			wantCode: fwk.Success,
		},
		{
			name:     "held by a bound or assumed placeholder",
			pod:      placeholder("a").Obj(),
			node:     ready(exporterNode("e1", labNS)).Obj(),
			onNode:   []*v1.Pod{placeholder("b").Node("e1").Obj()},
			wantCode: fwk.Pending,
			wantMsg:  ReasonHeldPrefix + "b",
		},
		{
			name:     "held by a spot placeholder of lower priority: preemption can free it",
			pod:      placeholder("a").Priority(10).Obj(),
			node:     ready(exporterNode("e1", labNS)).Obj(),
			onNode:   []*v1.Pod{spot(placeholder("b")).Priority(1).Node("e1").Obj()},
			wantCode: fwk.Unschedulable,
			wantMsg:  ReasonHeldPrefix + "b",
		},
		{
			name:     "held by a placeholder of lower priority that is not spot access: never preempted",
			pod:      placeholder("a").Priority(10).Obj(),
			node:     ready(exporterNode("e1", labNS)).Obj(),
			onNode:   []*v1.Pod{placeholder("b").Priority(1).Node("e1").Obj()},
			wantCode: fwk.Pending,
			wantMsg:  ReasonHeldPrefix + "b",
		},
		{
			name:     "held by a spot placeholder of equal priority",
			pod:      placeholder("a").Priority(1).Obj(),
			node:     ready(exporterNode("e1", labNS)).Obj(),
			onNode:   []*v1.Pod{spot(placeholder("b")).Priority(1).Node("e1").Obj()},
			wantCode: fwk.Pending,
			wantMsg:  ReasonHeldPrefix + "b",
		},
		{
			name:     "held by a placeholder of higher priority",
			pod:      placeholder("a").Priority(1).Obj(),
			node:     ready(exporterNode("e1", labNS)).Obj(),
			onNode:   []*v1.Pod{placeholder("b").Priority(10).Node("e1").Obj()},
			wantCode: fwk.Pending,
			wantMsg:  ReasonHeldPrefix + "b",
		},
		{
			name:      "held by a nominated placeholder of equal priority",
			pod:       placeholder("a").Priority(10).Obj(),
			node:      ready(exporterNode("e1", labNS)).Obj(),
			nominated: []*v1.Pod{placeholder("b").Priority(10).NominatedNodeName("e1").Obj()},
			wantCode:  fwk.Pending,
			wantMsg:   ReasonHeldPrefix + "b",
		},
		{
			name:      "a nominated placeholder of lower priority does not hold",
			pod:       placeholder("a").Priority(10).Obj(),
			node:      ready(exporterNode("e1", labNS)).Obj(),
			nominated: []*v1.Pod{placeholder("b").Priority(1).NominatedNodeName("e1").Obj()},
			wantCode:  fwk.Success,
		},
		{
			name:     "other pods on the node do not hold it",
			pod:      placeholder("a").Obj(),
			node:     ready(exporterNode("e1", labNS)).Obj(),
			onNode:   []*v1.Pod{plainPod("daemon").Node("e1").Obj()},
			wantCode: fwk.Success,
		},
		{
			name:     "non-placeholder pods pass any node",
			pod:      plainPod("web").Obj(),
			node:     st.MakeNode().Name("worker-1").Obj(),
			wantCode: fwk.Success,
		},
		{
			name:     "non-placeholder pods pass an offline, held exporter",
			pod:      plainPod("web").Obj(),
			node:     offline(exporterNode("e1", labNS)).Obj(),
			onNode:   []*v1.Pod{placeholder("b").Node("e1").Obj()},
			wantCode: fwk.Success,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t)
			for _, p := range tt.nominated {
				env.nominator.byNode[p.Status.NominatedNodeName] = append(env.nominator.byNode[p.Status.NominatedNodeName], mustPodInfo(t, p))
			}
			// Through the framework, as the scheduler calls it (PreFilter first, nominated pods added).
			got := env.filter(t, tt.pod, nodeInfo(tt.node, tt.onNode...))
			if got.Code() != tt.wantCode || got.Message() != tt.wantMsg {
				t.Errorf("status = %v %q, want %v %q", got.Code(), got.Message(), tt.wantCode, tt.wantMsg)
			}
			if !got.IsSuccess() && got.Plugin() != Name {
				t.Errorf("rejected by %q, want %q", got.Plugin(), Name)
			}
		})
	}
}

func TestFilterIgnoresThePodItself(t *testing.T) {
	env := newTestEnv(t)
	pod := placeholder("a").Obj()
	ni := nodeInfo(ready(exporterNode("e1", labNS)).Obj(), placeholder("a").Node("e1").Obj())
	if got := env.plugin.Filter(env.ctx, framework.NewCycleState(), pod, ni); !got.IsSuccess() {
		t.Errorf("Filter = %v, want success: a pod does not hold an exporter against itself", got)
	}
}

func TestFilterNodeMissing(t *testing.T) {
	env := newTestEnv(t)
	got := env.plugin.Filter(env.ctx, framework.NewCycleState(), placeholder("a").Obj(), framework.NewNodeInfo())
	if got.Code() != fwk.Error {
		t.Errorf("Filter = %v, want Error", got)
	}
}
