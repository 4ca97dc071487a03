package clientsvc

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/identity"
)

var now = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := jumpstarterv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func newFake(t *testing.T, funcs *interceptor.Funcs, objs ...client.Object) client.WithWatch {
	t.Helper()
	b := fake.NewClientBuilder().WithScheme(newScheme(t)).WithObjects(objs...).
		WithStatusSubresource(&jumpstarterv1alpha1.Lease{}, &jumpstarterv1alpha1.Exporter{}, &jumpstarterv1alpha1.Client{})
	if funcs != nil {
		b = b.WithInterceptorFuncs(*funcs)
	}
	return b.Build()
}

// as is a request context of the client ns/name.
func as(ns, name string) context.Context {
	return identity.NewContext(context.Background(), identity.Identity{
		Kind: identity.KindClient, Namespace: ns, Name: name, Username: "internal:client:" + ns + ":" + name + ":uid",
	})
}

var alice = as("lab", "alice")

func testClient(ns, name string) *jumpstarterv1alpha1.Client {
	return &jumpstarterv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-client-" + name)}}
}

func testExporter(ns, name string, labels map[string]string, online bool) *jumpstarterv1alpha1.Exporter {
	e := &jumpstarterv1alpha1.Exporter{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, UID: types.UID("uid-exporter-" + name)}}
	if online {
		e.Status.Conditions = []metav1.Condition{
			{Type: jumpstarterv1alpha1.ExporterConditionRegistered, Status: metav1.ConditionTrue, Reason: "Registered", LastTransitionTime: metav1.NewTime(now)},
			{Type: jumpstarterv1alpha1.ExporterConditionOnline, Status: metav1.ConditionTrue, Reason: "Online", LastTransitionTime: metav1.NewTime(now)},
		}
		e.Status.LastSeen = ptr.To(metav1.NewTime(now.Add(-5 * time.Second)))
		e.Status.ExporterStatusValue = jumpstarterv1alpha1.ExporterStatusAvailable
	}
	return e
}

type leaseOpt func(*jumpstarterv1alpha1.Lease)

func granted(exporter string) leaseOpt {
	return func(l *jumpstarterv1alpha1.Lease) {
		l.Status.ExporterRef = &corev1.LocalObjectReference{Name: exporter}
		l.Status.BeginTime = ptr.To(metav1.NewMicroTime(now.Add(-10 * time.Minute)))
		l.Status.Conditions = []metav1.Condition{
			{Type: "Pending", Status: metav1.ConditionFalse, Reason: "Granted", LastTransitionTime: metav1.NewTime(now.Add(-10 * time.Minute))},
			{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Ready", LastTransitionTime: metav1.NewTime(now.Add(-10 * time.Minute))},
		}
	}
}

func ended(labelled bool) leaseOpt {
	return func(l *jumpstarterv1alpha1.Lease) {
		l.Status.Ended = true
		if labelled {
			l.Labels[jumpstarterv1alpha1.LabelLeaseEnded] = "true"
		}
	}
}

func withTags(tags map[string]string) leaseOpt {
	return func(l *jumpstarterv1alpha1.Lease) {
		l.Spec.Tags = tags
		for k, v := range tags {
			l.Labels["metadata.jumpstarter.dev/"+k] = v
		}
	}
}

func testLease(ns, name, owner string, opts ...leaseOpt) *jumpstarterv1alpha1.Lease {
	l := &jumpstarterv1alpha1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"board": "rpi4"}},
		Spec: jumpstarterv1alpha1.LeaseSpec{
			ClientRef: corev1.LocalObjectReference{Name: owner},
			Selector:  metav1.LabelSelector{MatchLabels: map[string]string{"board": "rpi4"}},
			Duration:  &metav1.Duration{Duration: time.Hour},
		},
	}
	for _, o := range opts {
		o(l)
	}
	return l
}

// fixtures: clients alice and bob in lab, carol in other; exporters board1 (rpi4, online),
// board2 (rpi4, offline), board3 (rpi5) in lab, board9 in other; leases in lab: active
// (alice, granted board1, tag team=qa), waiting (bob), ended (alice, labelled), ending (alice,
// ended, not yet labelled); foreign (carol) in other.
func fixtures() []client.Object {
	return []client.Object{
		testClient("lab", "alice"), testClient("lab", "bob"), testClient("other", "carol"),
		testExporter("lab", "board1", map[string]string{"board": "rpi4"}, true),
		testExporter("lab", "board2", map[string]string{"board": "rpi4"}, false),
		testExporter("lab", "board3", map[string]string{"board": "rpi5"}, true),
		testExporter("other", "board9", map[string]string{"board": "rpi4"}, true),
		testLease("lab", "active", "alice", granted("board1"), withTags(map[string]string{"team": "qa"})),
		testLease("lab", "waiting", "bob"),
		testLease("lab", "ended", "alice", granted("board3"), ended(true)),
		testLease("lab", "ending", "alice", ended(false)),
		testLease("other", "foreign", "carol"),
	}
}

type harness struct {
	t      *testing.T
	client client.WithWatch
	srv    *Server
}

func newHarness(t *testing.T, objs ...client.Object) *harness {
	t.Helper()
	if objs == nil {
		objs = fixtures()
	}
	c := newFake(t, nil, objs...)
	return &harness{t: t, client: c, srv: &Server{Reader: c, APIReader: c, Client: c, Clock: clocktesting.NewFakeClock(now)}}
}

// leases is every lease in the store, for checking that a refused request changed nothing.
func (h *harness) leases() []jumpstarterv1alpha1.Lease {
	h.t.Helper()
	list := &jumpstarterv1alpha1.LeaseList{}
	if err := h.client.List(context.Background(), list); err != nil {
		h.t.Fatal(err)
	}
	return list.Items
}

func (h *harness) lease(ns, name string) *jumpstarterv1alpha1.Lease {
	h.t.Helper()
	l := &jumpstarterv1alpha1.Lease{}
	if err := h.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, l); err != nil {
		h.t.Fatal(err)
	}
	return l
}

func (h *harness) unchanged(before []jumpstarterv1alpha1.Lease) {
	h.t.Helper()
	if after := h.leases(); !reflect.DeepEqual(before, after) {
		h.t.Errorf("the store changed:\nbefore %v\nafter  %v", before, after)
	}
}

// wantStatus checks that err has code and a message containing each of parts (OK: no error).
func wantStatus(t *testing.T, err error, code codes.Code, parts ...string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("code = %s (%v), want %s", status.Code(err), err, code)
	}
	for _, p := range parts {
		if !strings.Contains(status.Convert(err).Message(), p) {
			t.Errorf("message %q does not contain %q", status.Convert(err).Message(), p)
		}
	}
}
