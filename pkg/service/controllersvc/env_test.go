package controllersvc

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache/informertest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/identity"
	"jumpstarter.dev/service/pkg/auth/routertoken"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
	"jumpstarter.dev/service/pkg/routers"
	"jumpstarter.dev/service/pkg/virtualnode"
)

const ns = "lab"

var routerKey = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")

// env is a server over a fake client whose writes feed fake informers, as a real cache's
// watch would, served in process over bufconn. Test metadata stands in for authentication.
type env struct {
	t         *testing.T
	client    client.Client
	informers *informertest.FakeInformers
	server    *Server
	ctl       jumpstarterv1.ControllerServiceClient
}

type envOption func(*Config)

func newEnv(t *testing.T, objs []client.Object, opts ...envOption) *env {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := jumpstarterv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, informers: &informertest.FakeInformers{Scheme: scheme}}
	base := fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(objs...).
		WithStatusSubresource(&jumpstarterv1alpha1.Exporter{}, &jumpstarterv1alpha1.Lease{}).
		WithIndex(&jumpstarterv1alpha1.Lease{}, virtualnode.LeaseExporterIndex, virtualnode.LeaseExporterIndexFunc).
		Build()
	e.client = interceptor.NewClient(base, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			return e.fire(ctx, c, obj, func() error { return c.Create(ctx, obj, opts...) })
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			return e.fire(ctx, c, obj, func() error { return c.Update(ctx, obj, opts...) })
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			return e.fire(ctx, c, obj, func() error { return c.Patch(ctx, obj, patch, opts...) })
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			return e.fire(ctx, c, obj, func() error { return c.Delete(ctx, obj, opts...) })
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			return e.fire(ctx, c, obj, func() error { return c.SubResource(sub).Update(ctx, obj, opts...) })
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			return e.fire(ctx, c, obj, func() error { return c.SubResource(sub).Patch(ctx, obj, patch, opts...) })
		},
	})

	notifier := NewNotifier()
	if err := notifier.AddEventHandlers(context.Background(), e.informers); err != nil {
		t.Fatal(err)
	}
	table, err := routers.Single("router.lab:8083")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := routertoken.NewSigner(routerKey, clock.RealClock{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Client:            e.client,
		Notifier:          notifier,
		Routers:           table,
		Tokens:            signer,
		HeartbeatInterval: time.Hour, // tests that need ticks set their own
		DialWait:          Backoff{Initial: 5 * time.Millisecond, Max: 20 * time.Millisecond, Total: 60 * time.Millisecond},
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.server, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}

	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			return h(testIdentity(ctx), req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return h(srv, &identityStream{ServerStream: ss, ctx: testIdentity(ss.Context())})
		}),
	)
	jumpstarterv1.RegisterControllerServiceServer(srv, e.server)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
	})
	e.ctl = jumpstarterv1.NewControllerServiceClient(conn)
	return e
}

// fire runs a write and tells the fake informers what it changed.
func (e *env) fire(ctx context.Context, c client.Client, obj client.Object, write func() error) error {
	var newObj func() client.Object
	switch obj.(type) {
	case *jumpstarterv1alpha1.Lease:
		newObj = func() client.Object { return &jumpstarterv1alpha1.Lease{} }
	case *jumpstarterv1alpha1.Exporter:
		newObj = func() client.Object { return &jumpstarterv1alpha1.Exporter{} }
	default:
		return write()
	}
	key := client.ObjectKeyFromObject(obj)
	before := newObj()
	existed := c.Get(ctx, key, before) == nil
	if err := write(); err != nil {
		return err
	}
	informer, err := e.informers.FakeInformerFor(ctx, obj)
	if err != nil {
		return err
	}
	after := newObj()
	switch err := c.Get(ctx, key, after); {
	case apierrors.IsNotFound(err):
		informer.Delete(before)
	case err != nil:
		return err
	case existed:
		informer.Update(before, after)
	default:
		informer.Add(after)
	}
	return nil
}

type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identityStream) Context() context.Context { return s.ctx }

// testIdentity turns the test metadata into the caller identity, as the auth layer would.
func testIdentity(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	if len(md.Get("test-kind")) == 0 {
		return ctx
	}
	return identity.NewContext(ctx, identity.Identity{
		Kind:      identity.Kind(md.Get("test-kind")[0]),
		Namespace: md.Get("test-namespace")[0],
		Name:      md.Get("test-name")[0],
	})
}

func as(ctx context.Context, kind identity.Kind, name string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "test-kind", string(kind), "test-namespace", ns, "test-name", name)
}

func asExporter(ctx context.Context, name string) context.Context {
	return as(ctx, identity.KindExporter, name)
}

func asClient(ctx context.Context, name string) context.Context {
	return as(ctx, identity.KindClient, name)
}

func (e *env) exporter(name string) *jumpstarterv1alpha1.Exporter {
	e.t.Helper()
	obj := &jumpstarterv1alpha1.Exporter{}
	if err := e.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		e.t.Fatal(err)
	}
	return obj
}

func (e *env) lease(name string) *jumpstarterv1alpha1.Lease {
	e.t.Helper()
	obj := &jumpstarterv1alpha1.Lease{}
	if err := e.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		e.t.Fatal(err)
	}
	return obj
}

// setExporterStatus rewrites an exporter's status as another writer would.
func (e *env) setExporterStatus(name string, mutate func(*jumpstarterv1alpha1.Exporter)) {
	e.t.Helper()
	obj := e.exporter(name)
	mutate(obj)
	if err := e.client.Status().Update(context.Background(), obj); err != nil {
		e.t.Fatal(err)
	}
}

// setLease rewrites a lease (spec, metadata and status) as the lease controller would.
func (e *env) setLease(name string, mutate func(*jumpstarterv1alpha1.Lease)) {
	e.t.Helper()
	obj := e.lease(name)
	mutate(obj)
	st := obj.Status
	if err := e.client.Update(context.Background(), obj); err != nil {
		e.t.Fatal(err)
	}
	obj.Status = st
	if err := e.client.Status().Update(context.Background(), obj); err != nil {
		e.t.Fatal(err)
	}
}

func newExporter(name string, mods ...func(*jumpstarterv1alpha1.Exporter)) *jumpstarterv1alpha1.Exporter {
	e := &jumpstarterv1alpha1.Exporter{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"board": "rpi4"}},
	}
	for _, m := range mods {
		m(e)
	}
	return e
}

func withStatus(value string) func(*jumpstarterv1alpha1.Exporter) {
	return func(e *jumpstarterv1alpha1.Exporter) { e.Status.ExporterStatusValue = value }
}

func newLease(name, clientName string, mods ...func(*jumpstarterv1alpha1.Lease)) *jumpstarterv1alpha1.Lease {
	l := &jumpstarterv1alpha1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name)},
		Spec: jumpstarterv1alpha1.LeaseSpec{
			ClientRef: corev1.LocalObjectReference{Name: clientName},
			Duration:  &metav1.Duration{Duration: 10 * time.Minute},
			Selector:  metav1.LabelSelector{MatchLabels: map[string]string{"board": "rpi4"}},
		},
	}
	for _, m := range mods {
		m(l)
	}
	return l
}

// granted makes a lease active on exporter, granted now.
func granted(exporter string) func(*jumpstarterv1alpha1.Lease) {
	return func(l *jumpstarterv1alpha1.Lease) { grant(l, exporter, time.Now()) }
}

func grant(l *jumpstarterv1alpha1.Lease, exporter string, at time.Time) {
	begin := metav1.NewMicroTime(at)
	l.Status.ExporterRef = &corev1.LocalObjectReference{Name: exporter}
	l.Status.BeginTime = &begin
	l.Status.Phase = jumpstarterv1alpha1.LeasePhaseActive
	l.Status.Conditions = []metav1.Condition{
		{Type: jumpstarterv1alpha1.LeaseConditionPending, Status: metav1.ConditionFalse, Reason: "Granted", LastTransitionTime: metav1.NewTime(at)},
		{Type: jumpstarterv1alpha1.LeaseConditionReady, Status: metav1.ConditionTrue, Reason: jumpstarterv1alpha1.LeaseReasonReady, LastTransitionTime: metav1.NewTime(at)},
	}
}

func ended(l *jumpstarterv1alpha1.Lease) {
	l.Status.Ended = true
	l.Status.Phase = jumpstarterv1alpha1.LeasePhaseEnded
	for i := range l.Status.Conditions {
		if l.Status.Conditions[i].Type == jumpstarterv1alpha1.LeaseConditionReady {
			l.Status.Conditions[i].Status = metav1.ConditionFalse
			l.Status.Conditions[i].Reason = jumpstarterv1alpha1.LeaseReasonReleased
		}
	}
}

// eventually polls cond until it holds or a second has passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
