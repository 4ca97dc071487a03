package plugin

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	clientsetfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	schedcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/defaultbinder"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	"k8s.io/kubernetes/pkg/scheduler/metrics"
	st "k8s.io/kubernetes/pkg/scheduler/testing"
	tf "k8s.io/kubernetes/pkg/scheduler/testing/framework"
	testingclock "k8s.io/utils/clock/testing"

	jsv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// TestMain registers the scheduler's metrics, which the framework's instrumented plugins use.
func TestMain(m *testing.M) {
	metrics.Register()
	os.Exit(m.Run())
}

const (
	labNS   = "lab"
	otherNS = "other"
)

// exporterNode is a virtual node as the controller builds it, without a Ready condition.
func exporterNode(name, namespace string) *st.NodeWrapper {
	return st.MakeNode().Name(name).
		Label(jsv1alpha1.LabelExporterNamespace, namespace).
		Label(jsv1alpha1.LabelExporterName, name).
		Capacity(map[v1.ResourceName]string{jsv1alpha1.ResourceExporter: "1", v1.ResourceCPU: "1", v1.ResourceMemory: "1Gi"}).
		Taints([]v1.Taint{{Key: jsv1alpha1.TaintExporterKey, Effect: v1.TaintEffectNoSchedule}})
}

func ready(w *st.NodeWrapper) *st.NodeWrapper {
	return w.Condition(v1.NodeReady, v1.ConditionTrue, "", jsv1alpha1.NodeReasonExporterReady)
}

func disabled(w *st.NodeWrapper) *st.NodeWrapper {
	return w.Condition(v1.NodeReady, v1.ConditionFalse, "", jsv1alpha1.NodeReasonExporterDisabled)
}

func offline(w *st.NodeWrapper) *st.NodeWrapper {
	return w.Condition(v1.NodeReady, v1.ConditionFalse, "", jsv1alpha1.NodeReasonExporterOffline)
}

func unknown(w *st.NodeWrapper) *st.NodeWrapper {
	return w.Condition(v1.NodeReady, v1.ConditionUnknown, "Kubelet stopped posting node status.", "NodeStatusUnknown")
}

// leaseAffinity is the required node affinity the controller derives from a lease selector: the
// lease's namespace plus the selector's requirements, all in one term.
func leaseAffinity(namespace string, match map[string]string) *v1.NodeAffinity {
	term := v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{{
		Key: jsv1alpha1.LabelExporterNamespace, Operator: v1.NodeSelectorOpIn, Values: []string{namespace},
	}}}
	for k, v := range match {
		term.MatchExpressions = append(term.MatchExpressions, v1.NodeSelectorRequirement{
			Key: k, Operator: v1.NodeSelectorOpIn, Values: []string{v},
		})
	}
	return &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
		NodeSelectorTerms: []v1.NodeSelectorTerm{term},
	}}
}

// placeholder is a lease's placeholder pod in the lab namespace selecting any exporter there.
// spot marks a placeholder as a lease under spot access: preemptible by higher priorities.
func spot(p *st.PodWrapper) *st.PodWrapper {
	return p.Label(jsv1alpha1.LabelSpotAccess, "true")
}

func placeholder(lease string) *st.PodWrapper {
	return st.MakePod().Namespace(labNS).Name("lease-"+lease).UID("uid-"+lease).
		SchedulerName(jsv1alpha1.SchedulerName).
		Label(jsv1alpha1.LabelLeaseName, lease).
		Req(map[v1.ResourceName]string{jsv1alpha1.ResourceExporter: "1"}).
		Lim(map[v1.ResourceName]string{jsv1alpha1.ResourceExporter: "1"}).
		NodeAffinity(leaseAffinity(labNS, nil))
}

// plainPod is not a placeholder.
func plainPod(name string) *st.PodWrapper {
	return st.MakePod().Namespace(labNS).Name(name).UID("uid-" + name).SchedulerName(jsv1alpha1.SchedulerName)
}

// fakeNominator serves nominated pods per node to the framework.
type fakeNominator struct {
	byNode map[string][]fwk.PodInfo
}

func (n *fakeNominator) AddNominatedPod(klog.Logger, fwk.PodInfo, *fwk.NominatingInfo) {}
func (n *fakeNominator) DeleteNominatedPodIfExists(*v1.Pod)                            {}
func (n *fakeNominator) UpdateNominatedPod(klog.Logger, *v1.Pod, fwk.PodInfo)          {}
func (n *fakeNominator) NominatedPodsForNode(nodeName string) []fwk.PodInfo {
	return n.byNode[nodeName]
}

// fakeActivator records the pods the plugin activates.
type fakeActivator struct {
	mu        sync.Mutex
	activated []string // namespace/name
}

func (a *fakeActivator) Activate(_ klog.Logger, pods map[string]*v1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range pods {
		a.activated = append(a.activated, p.Namespace+"/"+p.Name)
	}
}

func (a *fakeActivator) names() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.activated)
}

// t0 is the fake clock's start and the creation time the tests count from.
var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// testEnv is a scheduling framework running the plugin at QueueSort, PreFilter, Filter and
// Score, and the informer factory its handle hands out.
type testEnv struct {
	ctx       context.Context
	fw        framework.Framework
	informers informers.SharedInformerFactory
	plugin    *Exporter
	nominator *fakeNominator
	activator *fakeActivator
	clock     *testingclock.FakePassiveClock
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	env := &testEnv{
		ctx:       ctx,
		informers: informers.NewSharedInformerFactory(clientsetfake.NewClientset(), 0),
		nominator: &fakeNominator{byNode: map[string][]fwk.PodInfo{}},
		activator: &fakeActivator{},
		clock:     testingclock.NewFakePassiveClock(t0),
	}
	// The framework builds the plugin; the test keeps that instance, so that the wakes the
	// hints record are the ones the framework's PreFilter reads.
	newPlugin := func(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
		p, err := New(ctx, obj, h)
		if err == nil {
			env.plugin = p.(*Exporter)
			env.plugin.clock = env.clock
		}
		return p, err
	}
	fw, err := tf.NewFramework(ctx, []tf.RegisterPluginFunc{
		tf.RegisterPluginAsExtensions(Name, newPlugin, "QueueSort", "PreFilter", "Filter", "Score"),
		tf.RegisterBindPlugin(defaultbinder.Name, defaultbinder.New),
	}, jsv1alpha1.SchedulerName,
		frameworkruntime.WithInformerFactory(env.informers),
		frameworkruntime.WithPodNominator(env.nominator),
		frameworkruntime.WithPodActivator(env.activator),
		frameworkruntime.WithSnapshotSharedLister(schedcache.NewEmptySnapshot()),
	)
	if err != nil {
		cancel()
		t.Fatalf("NewFramework: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		frameworkruntime.WaitForShutdown(fw)
	})
	env.fw = fw
	if env.plugin == nil {
		t.Fatal("the framework did not build the plugin")
	}
	return env
}

// addPods puts pods into the informer cache the queueing hints read, or updates them there.
func (e *testEnv) addPods(t *testing.T, pods ...*v1.Pod) {
	t.Helper()
	for _, p := range pods {
		if err := e.informers.Core().V1().Pods().Informer().GetIndexer().Update(p); err != nil {
			t.Fatal(err)
		}
	}
}

// deletePods removes pods from the informer cache.
func (e *testEnv) deletePods(t *testing.T, pods ...*v1.Pod) {
	t.Helper()
	for _, p := range pods {
		if err := e.informers.Core().V1().Pods().Informer().GetIndexer().Delete(p); err != nil {
			t.Fatal(err)
		}
	}
}

// step advances the plugin's clock.
func (e *testEnv) step(d time.Duration) {
	e.clock.SetTime(e.clock.Now().Add(d))
}

// createdAfter sets a pod's creation time to t0 plus the given number of seconds.
func createdAfter(w *st.PodWrapper, seconds int) *st.PodWrapper {
	return w.CreationTimestamp(metav1.NewTime(t0.Add(time.Duration(seconds) * time.Second)))
}

// addNodes puts nodes into the informer cache the queueing hints read.
func (e *testEnv) addNodes(t *testing.T, nodes ...*v1.Node) {
	t.Helper()
	for _, n := range nodes {
		if err := e.informers.Core().V1().Nodes().Informer().GetIndexer().Add(n); err != nil {
			t.Fatal(err)
		}
	}
}

// filter runs a scheduling cycle's filtering of one node as the scheduler does: the PreFilter
// plugins, then the Filter plugins with the nominated pods added.
func (e *testEnv) filter(t *testing.T, pod *v1.Pod, ni fwk.NodeInfo) *fwk.Status {
	t.Helper()
	state := framework.NewCycleState()
	if _, status, _ := e.fw.RunPreFilterPlugins(e.ctx, state, pod); !status.IsSuccess() {
		t.Fatalf("PreFilter: %v", status)
	}
	return e.fw.RunFilterPluginsWithNominatedPods(e.ctx, state, pod, ni)
}

// reserve records a wake of pod for node, as a queueing hint does when it chooses the pod.
func (e *testEnv) reserve(node string, pod *v1.Pod) {
	e.plugin.wake.mu.Lock()
	defer e.plugin.wake.mu.Unlock()
	e.plugin.setWakeLocked(node, pod, e.clock.Now())
}

// nodeInfo is the scheduler's view of a node with pods bound or assumed on it.
func nodeInfo(node *v1.Node, pods ...*v1.Pod) fwk.NodeInfo {
	ni := framework.NewNodeInfo(pods...)
	ni.SetNode(node)
	return ni
}

func mustPodInfo(t *testing.T, pod *v1.Pod) *framework.PodInfo {
	t.Helper()
	pi, err := framework.NewPodInfo(pod)
	if err != nil {
		t.Fatal(err)
	}
	return pi
}
