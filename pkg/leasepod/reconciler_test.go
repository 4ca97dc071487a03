package leasepod

import (
	"context"
	"slices"
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
)

// events records the reasons of the events sent.
type events struct{ reasons []string }

func (e *events) Eventf(_, _ runtime.Object, _, reason, _, _ string, _ ...any) {
	e.reasons = append(e.reasons, reason)
}

func (e *events) AnnotatedEventf(_, _ runtime.Object, _ map[string]string, _, reason, _, _ string, _ ...any) {
	e.reasons = append(e.reasons, reason)
}

func newFakeClient[T client.Object](t *testing.T, objs ...T) client.WithWatch {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := jumpstarterv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	b := fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&corev1.Pod{}, &jumpstarterv1alpha1.Lease{})
	for _, o := range objs {
		b = b.WithObjects(o)
	}
	return b.Build()
}

var podKey = types.NamespacedName{Namespace: "ci", Name: "step"}

func ciPod(mutate func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ci", Name: "step", UID: "pod-uid",
			Labels:      map[string]string{jumpstarterv1alpha1.LabelLeaseRequest: "true"},
			Annotations: map[string]string{jumpstarterv1alpha1.AnnotationLeaseSelector: "board=rpi4"},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName: "builder",
			SchedulingGates:    []corev1.PodSchedulingGate{{Name: "other"}, {Name: jumpstarterv1alpha1.GateLease}},
		},
	}
	if mutate != nil {
		mutate(pod)
	}
	return pod
}

func ciClient() *jumpstarterv1alpha1.Client {
	return &jumpstarterv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{Namespace: "ci", Name: "bot"},
		Spec: jumpstarterv1alpha1.ClientSpec{Username: ptr.To("system:serviceaccount:ci:builder")}}
}

// leaseOf is the pod's lease in a given state.
func leaseOf(pod *corev1.Pod, mutate func(*jumpstarterv1alpha1.Lease)) *jumpstarterv1alpha1.Lease {
	l, err := newLease(pod, "bot")
	if err != nil {
		panic(err)
	}
	if mutate != nil {
		mutate(l)
	}
	return l
}

func granted(l *jumpstarterv1alpha1.Lease) {
	l.Status.ExporterRef = &corev1.LocalObjectReference{Name: "e1"}
	l.Status.Conditions = []metav1.Condition{{Type: jumpstarterv1alpha1.LeaseConditionReady, Status: metav1.ConditionTrue, Reason: "Ready"}}
}

func unsatisfiable(l *jumpstarterv1alpha1.Lease) {
	l.Status.Ended = true
	l.Status.Conditions = []metav1.Condition{{Type: jumpstarterv1alpha1.LeaseConditionUnsatisfiable, Status: metav1.ConditionTrue,
		Reason: jumpstarterv1alpha1.LeaseReasonNoAccess, Message: "none of the 1 exporters is open"}}
}

func TestReconcile(t *testing.T) {
	tests := []struct {
		name   string
		pod    *corev1.Pod
		lease  func(*corev1.Pod) *jumpstarterv1alpha1.Lease
		result reconcile.Result
		events []string
		check  func(t *testing.T, pod *corev1.Pod, lease *jumpstarterv1alpha1.Lease)
	}{
		{name: "a gated pod gets its lease", pod: ciPod(nil), events: []string{EventLeaseCreated},
			check: func(t *testing.T, pod *corev1.Pod, lease *jumpstarterv1alpha1.Lease) {
				if lease == nil || lease.Spec.ClientRef.Name != "bot" || !metav1.IsControlledBy(lease, pod) {
					t.Errorf("lease %+v", lease)
				}
				wantCondition(t, pod, corev1.ConditionFalse, "Pending")
				if !gated(pod) {
					t.Error("the pod was let go before its grant")
				}
			}},
		{name: "a bad annotation fails it, saying why", pod: ciPod(func(p *corev1.Pod) {
			p.Annotations[jumpstarterv1alpha1.AnnotationLeaseDuration] = "soon"
		}), events: []string{EventLeaseFailed}, check: func(t *testing.T, pod *corev1.Pod, lease *jumpstarterv1alpha1.Lease) {
			if lease != nil {
				t.Errorf("lease created: %+v", lease)
			}
			wantCondition(t, pod, corev1.ConditionFalse, ReasonInvalidRequest)
			wantFailed(t, pod, ReasonInvalidRequest)
		}},
		{name: "granted: the pod goes, with the lease's name", pod: ciPod(nil), events: []string{EventLeaseGranted},
			lease: func(p *corev1.Pod) *jumpstarterv1alpha1.Lease { return leaseOf(p, granted) },
			check: func(t *testing.T, pod *corev1.Pod, _ *jumpstarterv1alpha1.Lease) {
				if gated(pod) || len(pod.Spec.SchedulingGates) != 1 || pod.Annotations[jumpstarterv1alpha1.AnnotationLeaseName] != "step" {
					t.Errorf("gates %v annotations %v", pod.Spec.SchedulingGates, pod.Annotations)
				}
				wantCondition(t, pod, corev1.ConditionTrue, ReasonGranted)
			}},
		{name: "ended before its grant: failed, with the lease's reason", pod: ciPod(nil), events: []string{EventLeaseFailed},
			lease: func(p *corev1.Pod) *jumpstarterv1alpha1.Lease { return leaseOf(p, unsatisfiable) },
			check: func(t *testing.T, pod *corev1.Pod, _ *jumpstarterv1alpha1.Lease) {
				if !gated(pod) {
					t.Error("let go without a lease")
				}
				wantCondition(t, pod, corev1.ConditionFalse, jumpstarterv1alpha1.LeaseReasonNoAccess)
				wantFailed(t, pod, jumpstarterv1alpha1.LeaseReasonNoAccess)
			}},
		{name: "done: the lease is released", pod: ciPod(func(p *corev1.Pod) {
			p.Spec.SchedulingGates = nil
			p.Status.Phase = corev1.PodSucceeded
		}), lease: func(p *corev1.Pod) *jumpstarterv1alpha1.Lease { return leaseOf(p, granted) }, events: []string{EventLeaseReleased},
			check: func(t *testing.T, _ *corev1.Pod, lease *jumpstarterv1alpha1.Lease) {
				if !lease.Spec.Release {
					t.Error("the lease of a finished pod is not released")
				}
			}},
		{name: "running: nothing to do", pod: ciPod(func(p *corev1.Pod) { p.Spec.SchedulingGates = nil }),
			lease: func(p *corev1.Pod) *jumpstarterv1alpha1.Lease { return leaseOf(p, granted) },
			check: func(t *testing.T, _ *corev1.Pod, lease *jumpstarterv1alpha1.Lease) {
				if lease.Spec.Release {
					t.Error("the lease of a running pod was released")
				}
			}},
		{name: "the name is another's: wait for it to go", pod: ciPod(nil),
			lease: func(p *corev1.Pod) *jumpstarterv1alpha1.Lease {
				return leaseOf(p, func(l *jumpstarterv1alpha1.Lease) { l.OwnerReferences[0].UID = "an-earlier-pod" })
			},
			result: reconcile.Result{RequeueAfter: nameTakenRetry},
			check: func(t *testing.T, pod *corev1.Pod, _ *jumpstarterv1alpha1.Lease) {
				wantCondition(t, pod, corev1.ConditionFalse, ReasonNameTaken)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := []client.Object{tt.pod, ciClient()}
			if tt.lease != nil {
				objs = append(objs, tt.lease(tt.pod))
			}
			c := newFakeClient(t, objs...)
			sent := &events{}
			r := &Reconciler{Pods: c, Client: c, Recorder: sent, Clock: clocktesting.NewFakeClock(time.Now())}
			result, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: podKey})
			if err != nil || result != tt.result {
				t.Fatalf("Reconcile = %+v, %v; want %+v", result, err, tt.result)
			}
			pod := &corev1.Pod{}
			if err := c.Get(context.Background(), podKey, pod); err != nil {
				t.Fatal(err)
			}
			var lease *jumpstarterv1alpha1.Lease
			if l := (&jumpstarterv1alpha1.Lease{}); c.Get(context.Background(), podKey, l) == nil {
				lease = l
			}
			tt.check(t, pod, lease)
			if !slices.Equal(sent.reasons, tt.events) {
				t.Errorf("events %v, want %v", sent.reasons, tt.events)
			}

			// Nothing changed since: the same reconcile writes nothing and tells nobody again.
			sent.reasons = nil
			rv := pod.ResourceVersion
			if _, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: podKey}); err != nil {
				t.Fatal(err)
			}
			if err := c.Get(context.Background(), podKey, pod); err != nil {
				t.Fatal(err)
			}
			if pod.ResourceVersion != rv || len(sent.reasons) > 0 {
				t.Errorf("a second reconcile wrote the pod (%s -> %s) or sent %v", rv, pod.ResourceVersion, sent.reasons)
			}
		})
	}
}

func wantCondition(t *testing.T, pod *corev1.Pod, status corev1.ConditionStatus, reason string) {
	t.Helper()
	for _, c := range pod.Status.Conditions {
		if c.Type == jumpstarterv1alpha1.PodConditionLease {
			if c.Status != status || c.Reason != reason || c.Message == "" {
				t.Errorf("lease condition %+v, want %s %s with a message", c, status, reason)
			}
			return
		}
	}
	t.Errorf("no lease condition in %+v", pod.Status.Conditions)
}

func wantFailed(t *testing.T, pod *corev1.Pod, reason string) {
	t.Helper()
	if pod.Status.Phase != corev1.PodFailed || pod.Status.Reason != reason || pod.Status.Message == "" {
		t.Errorf("pod phase %s reason %q message %q, want Failed %s with a message", pod.Status.Phase, pod.Status.Reason, pod.Status.Message, reason)
	}
}
