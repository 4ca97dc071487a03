package nodeagent

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/virtualnode"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

type nopRecorder struct{}

func (nopRecorder) Eventf(runtime.Object, runtime.Object, string, string, string, string, ...any) {}
func (nopRecorder) AnnotatedEventf(runtime.Object, runtime.Object, map[string]string, string, string, string, string, ...any) {
}

func pod(name string, created time.Duration, phase corev1.PodPhase, placeholder bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(now.Add(created))},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "lease", Image: "pause"}}},
		Status:     corev1.PodStatus{Phase: phase},
	}
	if placeholder {
		p.Labels = map[string]string{jumpstarterv1alpha1.LabelLeaseName: name}
	}
	return p
}

func TestAgentAcceptsExactlyOnePlaceholder(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{jumpstarterv1alpha1.LabelExporterName: "e1"}}}
	tests := []struct {
		name string
		pods []*corev1.Pod
		want map[string]corev1.PodPhase
	}{
		{"single bound placeholder is accepted", []*corev1.Pod{pod("a", 0, corev1.PodPending, true)},
			map[string]corev1.PodPhase{"a": corev1.PodRunning}},
		{"oldest of two bound wins", []*corev1.Pod{pod("b", time.Second, corev1.PodPending, true), pod("a", 0, corev1.PodPending, true)},
			map[string]corev1.PodPhase{"a": corev1.PodRunning, "b": corev1.PodFailed}},
		{"running holder keeps the node", []*corev1.Pod{pod("a", 0, corev1.PodPending, true), pod("b", time.Second, corev1.PodRunning, true)},
			map[string]corev1.PodPhase{"a": corev1.PodFailed, "b": corev1.PodRunning}},
		{"two running: first kept", []*corev1.Pod{pod("a", 0, corev1.PodRunning, true), pod("b", time.Second, corev1.PodRunning, true)},
			map[string]corev1.PodPhase{"a": corev1.PodRunning, "b": corev1.PodFailed}},
		{"foreign pod refused", []*corev1.Pod{pod("ds", 0, corev1.PodPending, false)},
			map[string]corev1.PodPhase{"ds": corev1.PodFailed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := []client.Object{node}
			for _, p := range tt.pods {
				objs = append(objs, p)
			}
			agent, c := newAgent(t, objs...)
			if _, err := agent.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Name: "n1"}}); err != nil {
				t.Fatalf("reconcile: %v", err)
			}
			for name, phase := range tt.want {
				got := &corev1.Pod{}
				if err := c.Get(context.Background(), types.NamespacedName{Namespace: "lab", Name: name}, got); err != nil {
					t.Fatal(err)
				}
				if got.Status.Phase != phase {
					t.Errorf("pod %s phase = %s, want %s", name, got.Status.Phase, phase)
				}
			}
		})
	}
}

// TestAgentRemembersWhatTheCacheHasNotSeen: after accepting a placeholder, a second one bound to
// the node is refused even while the cache still shows the first as Pending.
func TestAgentRemembersWhatTheCacheHasNotSeen(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{jumpstarterv1alpha1.LabelExporterName: "e1"}}}
	first := pod("a", 0, corev1.PodPending, true)
	agent, c := newAgent(t, node, first)
	req := reconcile.Request{NamespacedName: types.NamespacedName{Name: "n1"}}
	if _, err := agent.Reconcile(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	// Play a stale cache: put the first pod back to Pending, and bind a second, older-looking one.
	stale := &corev1.Pod{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "lab", Name: "a"}, stale); err != nil {
		t.Fatal(err)
	}
	stale.Status.Phase = corev1.PodPending
	if err := c.Status().Update(context.Background(), stale); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), pod("b", -time.Hour, corev1.PodPending, true)); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.Reconcile(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got := &corev1.Pod{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "lab", Name: "b"}, got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != corev1.PodFailed {
		t.Errorf("second placeholder phase = %s, want Failed (the node is held by the one accepted first)", got.Status.Phase)
	}
}

func newAgent(t *testing.T, objs ...client.Object) (*Agent, client.Client) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := jumpstarterv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithStatusSubresource(&corev1.Pod{}).
		WithIndex(&corev1.Pod{}, "spec.nodeName", func(o client.Object) []string { return []string{o.(*corev1.Pod).Spec.NodeName} }).
		WithIndex(&jumpstarterv1alpha1.Lease{}, virtualnode.LeaseExporterIndex, virtualnode.LeaseExporterIndexFunc).
		Build()
	return &Agent{Client: c, APIReader: c, Recorder: nopRecorder{}, Clock: clocktesting.NewFakeClock(now)}, c
}

// TestAdmit: the first placeholder asked about on a free node is admitted, a second one is not,
// and the agent's own reconcile then accepts the first and refuses the second, even though the
// second is older.
func TestAdmit(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{jumpstarterv1alpha1.LabelExporterName: "e1"}}}
	first, second := pod("a", 0, corev1.PodPending, true), pod("b", -time.Hour, corev1.PodPending, true)
	agent, c := newAgent(t, node, first)
	ctx := context.Background()
	if a, err := agent.Admit(ctx, first); err != nil || !a.Admitted {
		t.Fatalf("Admit(first) = %+v, %v; want admitted", a, err)
	}
	if err := c.Create(ctx, second); err != nil {
		t.Fatal(err)
	}
	if a, err := agent.Admit(ctx, second); err != nil || a.Admitted {
		t.Fatalf("Admit(second) = %+v, %v; want not admitted: the node is held", a, err)
	}
	if _, err := agent.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: "n1"}}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]corev1.PodPhase{"a": corev1.PodRunning, "b": corev1.PodFailed} {
		got := &corev1.Pod{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: "lab", Name: name}, got); err != nil {
			t.Fatal(err)
		}
		if got.Status.Phase != want {
			t.Errorf("pod %s phase = %s, want %s", name, got.Status.Phase, want)
		}
	}
}

// TestAdmitAfterRestart: a fresh agent (no record) counts the placeholder of a lease granted
// the exporter as its holder, even when an older placeholder is bound there too.
func TestAdmitAfterRestart(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{jumpstarterv1alpha1.LabelExporterName: "e1"}}}
	granted := pod("a", 0, corev1.PodPending, true)
	granted.OwnerReferences = []metav1.OwnerReference{{APIVersion: jumpstarterv1alpha1.GroupVersion.String(), Kind: "Lease", Name: "la", UID: "lease-a", Controller: ptr.To(true)}}
	lease := &jumpstarterv1alpha1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "la", UID: "lease-a"},
		Status: jumpstarterv1alpha1.LeaseStatus{
			ExporterRef: &corev1.LocalObjectReference{Name: "e1"}, PlaceholderPod: "a",
		},
	}
	older := pod("b", -time.Hour, corev1.PodPending, true)
	agent, _ := newAgent(t, node, granted, older, lease)
	ctx := context.Background()
	if a, err := agent.Admit(ctx, older); err != nil || a.Admitted {
		t.Fatalf("Admit(older) = %+v, %v; want not admitted: the granted lease's placeholder holds the node", a, err)
	}
	if a, err := agent.Admit(ctx, granted); err != nil || !a.Admitted {
		t.Fatalf("Admit(granted) = %+v, %v; want admitted", a, err)
	}
}

// TestAdmitBlockedWhileTheLastLeaseEnds: a lease granted the exporter whose placeholder is
// gone but whose end is not written yet blocks the next placeholder, neither admitted nor
// refused; once the lease view says it ended, the next one is admitted.
func TestAdmitBlockedWhileTheLastLeaseEnds(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{
		jumpstarterv1alpha1.LabelExporterNamespace: "lab", jumpstarterv1alpha1.LabelExporterName: "e1",
	}}}
	ending := &jumpstarterv1alpha1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "old", UID: "lease-old"},
		Status:     jumpstarterv1alpha1.LeaseStatus{ExporterRef: &corev1.LocalObjectReference{Name: "e1"}, PlaceholderPod: "gone"},
	}
	next := pod("next", 0, corev1.PodPending, true)
	agent, c := newAgent(t, node, next, ending)
	ctx := context.Background()

	a, err := agent.Admit(ctx, next)
	if err != nil || a.Admitted || !a.Blocked {
		t.Fatalf("Admit(next) = %+v, %v; want blocked", a, err)
	}
	res, err := agent.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: "n1"}})
	if err != nil || res.RequeueAfter != BlockedRetry {
		t.Fatalf("Reconcile = %+v, %v; want a retry after %v", res, err, BlockedRetry)
	}
	got := &corev1.Pod{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: "lab", Name: "next"}, got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != corev1.PodPending {
		t.Fatalf("blocked placeholder phase = %s, want Pending (neither accepted nor refused)", got.Status.Phase)
	}

	// The lease controller has written the end; the cache does not show it yet.
	agent.LeaseView = func(l *jumpstarterv1alpha1.Lease) *jumpstarterv1alpha1.Lease {
		fresh := l.DeepCopy()
		fresh.Status.Ended = true
		return fresh
	}
	if a, err := agent.Admit(ctx, next); err != nil || !a.Admitted {
		t.Fatalf("Admit(next) after the end = %+v, %v; want admitted", a, err)
	}
}

// TestAdmitBlockedUntilTheHolderIsDue: a lease that released its placeholder ahead of its end
// blocks the next placeholder until that end; the retry comes then, not every BlockedRetry.
func TestAdmitBlockedUntilTheHolderIsDue(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{
		jumpstarterv1alpha1.LabelExporterNamespace: "lab", jumpstarterv1alpha1.LabelExporterName: "e1",
	}}}
	agentNow := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	releasedAhead := &jumpstarterv1alpha1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "old", UID: "lease-old"},
		Spec:       jumpstarterv1alpha1.LeaseSpec{Duration: &metav1.Duration{Duration: time.Minute}},
		Status: jumpstarterv1alpha1.LeaseStatus{ExporterRef: &corev1.LocalObjectReference{Name: "e1"}, PlaceholderPod: "gone",
			BeginTime: ptr.To(metav1.NewMicroTime(agentNow.Add(-time.Minute + 800*time.Millisecond)))},
	}
	next := pod("next", 0, corev1.PodPending, true)
	agent, _ := newAgent(t, node, next, releasedAhead)
	ctx := context.Background()

	tests := []struct {
		name string
		at   time.Time
		want time.Duration
	}{
		{"before the holder's end: at that end", agentNow, 800 * time.Millisecond},
		{"past the holder's end (its end is being written): shortly", agentNow.Add(time.Second), BlockedRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agent.Clock = clocktesting.NewFakePassiveClock(tt.at)
			a, err := agent.Admit(ctx, next)
			if err != nil || a.Admitted || !a.Blocked {
				t.Fatalf("Admit(next) = %+v, %v; want blocked", a, err)
			}
			if got := a.RetryAfter(tt.at); got != tt.want {
				t.Errorf("Admission.RetryAfter = %v, want %v", got, tt.want)
			}
			res, err := agent.Reconcile(ctx, reconcile.Request{NamespacedName: types.NamespacedName{Name: "n1"}})
			if err != nil || res.RequeueAfter != tt.want {
				t.Errorf("Reconcile = %+v, %v; want a retry after %v", res, err, tt.want)
			}
		})
	}
}

// TestAdmitBlockedByAGrantTheCacheHasNotSeen: the lease controller granted a lease the exporter
// and the lease released its placeholder ahead of its end, all before the cache showed the
// grant (so the cache's index does not find the lease by the exporter). The next placeholder
// is blocked all the same, through the lease controller's own writes, until that lease ends.
func TestAdmitBlockedByAGrantTheCacheHasNotSeen(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{
		jumpstarterv1alpha1.LabelExporterNamespace: "lab", jumpstarterv1alpha1.LabelExporterName: "e1",
	}}}
	cachedPending := &jumpstarterv1alpha1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "old", UID: "lease-old"},
		Spec:       jumpstarterv1alpha1.LeaseSpec{Duration: &metav1.Duration{Duration: time.Minute}},
	}
	granted := cachedPending.DeepCopy()
	granted.Status = jumpstarterv1alpha1.LeaseStatus{ExporterRef: &corev1.LocalObjectReference{Name: "e1"}, PlaceholderPod: "gone",
		BeginTime: ptr.To(metav1.NewMicroTime(now))}
	oldKey := types.NamespacedName{Namespace: "lab", Name: "old"}
	next := pod("next", 0, corev1.PodPending, true)

	tests := []struct {
		name         string
		ownGrants    []types.NamespacedName
		view         *jumpstarterv1alpha1.Lease // the lease controller's copy of "old"
		wantAdmitted bool
	}{
		{"granted by this process, cache behind: blocked", []types.NamespacedName{oldKey}, granted, false},
		{"ended by this process since: admitted", []types.NamespacedName{oldKey}, func() *jumpstarterv1alpha1.Lease {
			l := granted.DeepCopy()
			l.Status.Ended = true
			return l
		}(), true},
		{"a listed lease that is gone from the cache blocks nobody", []types.NamespacedName{{Namespace: "lab", Name: "deleted"}}, granted, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agent, _ := newAgent(t, node, next.DeepCopy(), cachedPending.DeepCopy())
			agent.OwnGrants = func(namespace, exporter string) []types.NamespacedName {
				if namespace != "lab" || exporter != "e1" {
					t.Errorf("OwnGrants(%s, %s), want (lab, e1)", namespace, exporter)
				}
				return tt.ownGrants
			}
			agent.LeaseView = func(l *jumpstarterv1alpha1.Lease) *jumpstarterv1alpha1.Lease {
				if l.Name == "old" {
					return tt.view.DeepCopy()
				}
				return l
			}
			a, err := agent.Admit(context.Background(), next)
			if err != nil || a.Admitted != tt.wantAdmitted || a.Blocked == tt.wantAdmitted {
				t.Fatalf("Admit(next) = %+v, %v; want admitted=%v", a, err, tt.wantAdmitted)
			}
		})
	}
}
