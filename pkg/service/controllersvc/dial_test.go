package controllersvc

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/identity"
	"jumpstarter.dev/service/pkg/auth/routertoken"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
	"jumpstarter.dev/service/pkg/routers"
)

// listen opens a Listen stream for the exporter and returns its tickets.
func listen(t *testing.T, env *env, exporter, lease string) (<-chan *jumpstarterv1.ListenResponse, <-chan error, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(asExporter(context.Background(), exporter))
	t.Cleanup(cancel)
	stream, err := env.ctl.Listen(ctx, &jumpstarterv1.ListenRequest{LeaseName: lease})
	if err != nil {
		t.Fatal(err)
	}
	msgs, done := receiveAll(stream)
	return msgs, done, cancel
}

// waitListening waits until the server has registered a Listen stream for the lease.
func waitListening(t *testing.T, env *env, lease string) *listener {
	t.Helper()
	var l *listener
	eventually(t, "the Listen stream", func() bool {
		env.server.listeners.mu.Lock()
		defer env.server.listeners.mu.Unlock()
		l = env.server.listeners.byUID[env.lease(lease).UID]
		return l != nil
	})
	return l
}

type failingMinter struct{}

func (failingMinter) Mint(routertoken.LeaseRef, time.Time) (string, routertoken.Claims, error) {
	return "", routertoken.Claims{}, errors.New("no key")
}

func TestDialFailures(t *testing.T) {
	active := newLease("l1", "alice", granted("e1"))
	tests := []struct {
		name     string
		objs     []client.Object
		caller   context.Context
		lease    string
		opt      envOption
		listen   bool
		fill     bool
		code     codes.Code
		msg      string
		exactMsg bool
	}{
		{name: "exporter caller", caller: asExporter(context.Background(), "e1"), lease: "l1",
			code: codes.InvalidArgument, msg: "object kind mismatch"},
		{name: "empty lease name", lease: "", code: codes.Unknown, msg: "empty lease name", exactMsg: true},
		{name: "unknown lease", lease: "nope", code: codes.Unknown, msg: `"nope" not found`},
		{name: "another client's lease", objs: []client.Object{newLease("l1", "bob", granted("e1"))}, lease: "l1",
			code: codes.Unknown, msg: "permission denied", exactMsg: true},
		{name: "pending lease", objs: []client.Object{newLease("l1", "alice")}, lease: "l1",
			code: codes.Unknown, msg: "lease not active", exactMsg: true},
		{name: "ended lease", objs: []client.Object{newLease("l1", "alice", granted("e1"), ended)}, lease: "l1",
			code: codes.Unknown, msg: "lease not active", exactMsg: true},
		{name: "lease past its end", objs: []client.Object{newLease("l1", "alice", func(l *jumpstarterv1alpha1.Lease) {
			grant(l, "e1", time.Now().Add(-time.Hour))
		})}, lease: "l1", code: codes.Unknown, msg: "lease not active", exactMsg: true},
		{name: "exporter offline", objs: []client.Object{active, newExporter("e1", withStatus(jumpstarterv1alpha1.ExporterStatusOffline))}, lease: "l1",
			code: codes.FailedPrecondition, msg: "exporter is offline", exactMsg: true},
		{name: "beforeLease hook failed", objs: []client.Object{active, newExporter("e1", withStatus(jumpstarterv1alpha1.ExporterStatusBeforeLeaseHookFailed))}, lease: "l1",
			code: codes.FailedPrecondition, msg: "exporter beforeLease hook failed", exactMsg: true},
		{name: "afterLease hook failed", objs: []client.Object{active, newExporter("e1", withStatus(jumpstarterv1alpha1.ExporterStatusAfterLeaseHookFailed))}, lease: "l1",
			code: codes.FailedPrecondition, msg: "exporter afterLease hook failed", exactMsg: true},
		{name: "still available after the wait", objs: []client.Object{active, newExporter("e1", withStatus(jumpstarterv1alpha1.ExporterStatusAvailable))}, lease: "l1",
			code: codes.FailedPrecondition, msg: "exporter is not ready (status: Available)", exactMsg: true},
		{name: "no router", objs: []client.Object{active, newExporter("e1", withStatus(jumpstarterv1alpha1.ExporterStatusLeaseReady))}, lease: "l1",
			opt:  func(c *Config) { c.Routers = &routers.Table{} },
			code: codes.Unknown, msg: "no router available", exactMsg: true},
		{name: "token not signed", objs: []client.Object{active, newExporter("e1", withStatus(jumpstarterv1alpha1.ExporterStatusLeaseReady))}, lease: "l1",
			opt:  func(c *Config) { c.Tokens = failingMinter{} },
			code: codes.Internal, msg: "unable to sign token", exactMsg: true},
		{name: "exporter not listening", objs: []client.Object{active, newExporter("e1", withStatus(jumpstarterv1alpha1.ExporterStatusLeaseReady))}, lease: "l1",
			code: codes.Unavailable, msg: "exporter is not listening on lease l1", exactMsg: true},
		{name: "listener buffer full", objs: []client.Object{active, newExporter("e1", withStatus(jumpstarterv1alpha1.ExporterStatusLeaseReady))}, lease: "l1",
			fill: true, code: codes.ResourceExhausted, msg: "listener buffer full on lease l1", exactMsg: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []envOption
			if tt.opt != nil {
				opts = append(opts, tt.opt)
			}
			env := newEnv(t, tt.objs, opts...)
			if tt.fill {
				// A listener that never reads: the server's own, without a stream.
				l := env.server.listeners.register(env.lease("l1").UID)
				for range ListenerBuffer {
					if err := env.server.listeners.deliver(env.lease("l1").UID, &jumpstarterv1.ListenResponse{}); err != nil {
						t.Fatal(err)
					}
				}
				defer env.server.listeners.unregister(env.lease("l1").UID, l)
			}
			ctx := tt.caller
			if ctx == nil {
				ctx = asClient(context.Background(), "alice")
			}
			_, err := env.ctl.Dial(ctx, &jumpstarterv1.DialRequest{LeaseName: tt.lease})
			wantStatus(t, err, tt.code, tt.msg)
			if tt.exactMsg {
				if msg := statusMessage(err); msg != tt.msg {
					t.Errorf("message = %q, want exactly %q", msg, tt.msg)
				}
			}
		})
	}
}

func statusMessage(err error) string { return status.Convert(err).Message() }

func verifier(t *testing.T) *routertoken.Verifier {
	t.Helper()
	v, err := routertoken.NewVerifier(routerKey, clock.RealClock{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestDialWaitsForTheExporterThenHandsOverTheTicket(t *testing.T) {
	lease := newLease("l1", "alice", granted("e1"))
	env := newEnv(t, []client.Object{lease, newExporter("e1", withStatus(jumpstarterv1alpha1.ExporterStatusAvailable))},
		func(c *Config) {
			c.DialWait = Backoff{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond, Total: 5 * time.Second}
		})
	tickets, _, _ := listen(t, env, "e1", "l1")
	waitListening(t, env, "l1")

	type result struct {
		resp *jumpstarterv1.DialResponse
		err  error
	}
	dialed := make(chan result, 1)
	start := time.Now()
	go func() {
		resp, err := env.ctl.Dial(asClient(context.Background(), "alice"), &jumpstarterv1.DialRequest{LeaseName: "l1"})
		dialed <- result{resp, err}
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case r := <-dialed:
		t.Fatalf("Dial returned while the exporter was Available: %v %v", r.resp, r.err)
	default:
	}
	if _, err := env.ctl.ReportStatus(asExporter(context.Background(), "e1"),
		&jumpstarterv1.ReportStatusRequest{Status: jumpstarterv1.ExporterStatus_EXPORTER_STATUS_LEASE_READY}); err != nil {
		t.Fatal(err)
	}
	r := <-dialed
	if r.err != nil {
		t.Fatalf("Dial: %v", r.err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Dial took %s after the exporter became ready", d)
	}
	ticket := next(t, tickets)
	if ticket.GetRouterEndpoint() != "router.lab:8083" || ticket.GetRouterEndpoint() != r.resp.GetRouterEndpoint() || ticket.GetRouterToken() != r.resp.GetRouterToken() {
		t.Fatalf("ticket %v differs from DialResponse %v", ticket, r.resp)
	}
	claims, err := verifier(t).Verify(r.resp.GetRouterToken())
	if err != nil {
		t.Fatal(err)
	}
	want := routertoken.LeaseRef{Namespace: ns, Name: "l1", UID: "uid-l1"}
	if claims.Lease != want {
		t.Errorf("token lease = %+v, want %+v", claims.Lease, want)
	}
	if end := env.lease("l1").EffectiveEndTime(); claims.ExpiresAt.After(end) || end.Sub(claims.ExpiresAt) > time.Second {
		t.Errorf("token expires %s, want at the lease end %s (10 min lease, under the 30 min lifetime)", claims.ExpiresAt, end)
	}
}

func TestDialStatesThatAllowSessions(t *testing.T) {
	for _, value := range []string{"", jumpstarterv1alpha1.ExporterStatusUnspecified, jumpstarterv1alpha1.ExporterStatusLeaseReady,
		jumpstarterv1alpha1.ExporterStatusBeforeLeaseHook, jumpstarterv1alpha1.ExporterStatusAfterLeaseHook} {
		t.Run("status "+value, func(t *testing.T) {
			env := newEnv(t, []client.Object{newLease("l1", "alice", granted("e1")), newExporter("e1", withStatus(value))})
			tickets, _, _ := listen(t, env, "e1", "l1")
			waitListening(t, env, "l1")
			resp, err := env.ctl.Dial(asClient(context.Background(), "alice"), &jumpstarterv1.DialRequest{LeaseName: "l1"})
			if err != nil {
				t.Fatal(err)
			}
			if got := next(t, tickets); got.GetRouterToken() != resp.GetRouterToken() {
				t.Errorf("ticket token differs from the DialResponse's")
			}
		})
	}
}

func TestManyConcurrentDials(t *testing.T) {
	env := newEnv(t, []client.Object{newLease("l1", "alice", granted("e1")), newExporter("e1", withStatus(jumpstarterv1alpha1.ExporterStatusLeaseReady))})
	tickets, _, _ := listen(t, env, "e1", "l1")
	waitListening(t, env, "l1")
	const n = 5
	var wg sync.WaitGroup
	tokens := make(chan string, n)
	for range n {
		wg.Go(func() {
			resp, err := env.ctl.Dial(asClient(context.Background(), "alice"), &jumpstarterv1.DialRequest{LeaseName: "l1"})
			if err != nil {
				t.Error(err)
				return
			}
			tokens <- resp.GetRouterToken()
		})
	}
	wg.Wait()
	close(tokens)
	v := verifier(t)
	streams := map[string]bool{}
	for tok := range tokens {
		c, err := v.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		streams[c.StreamID] = true
	}
	for range n {
		next(t, tickets)
	}
	if len(streams) != n {
		t.Errorf("%d distinct stream ids for %d Dials", len(streams), n)
	}
}

func TestListen(t *testing.T) {
	tests := []struct {
		name     string
		objs     []client.Object
		exporter string
		lease    string
		code     codes.Code
		msg      string
	}{
		{name: "unknown lease", objs: []client.Object{newExporter("e1")}, exporter: "e1", lease: "nope", code: codes.PermissionDenied, msg: "permission denied"},
		{name: "lease of another exporter", objs: []client.Object{newLease("l1", "alice", granted("e2"))}, exporter: "e1", lease: "l1", code: codes.PermissionDenied, msg: "permission denied"},
		{name: "pending lease", objs: []client.Object{newLease("l1", "alice")}, exporter: "e1", lease: "l1", code: codes.PermissionDenied, msg: "permission denied"},
		{name: "ended lease", objs: []client.Object{newLease("l1", "alice", granted("e1"), ended)}, exporter: "e1", lease: "l1", code: codes.PermissionDenied, msg: "permission denied"},
		{name: "no lease name", exporter: "e1", lease: "", code: codes.InvalidArgument, msg: "lease_name is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t, tt.objs)
			_, done, _ := listen(t, env, tt.exporter, tt.lease)
			wantStatus(t, <-done, tt.code, tt.msg)
		})
	}
}

func TestListenReplacement(t *testing.T) {
	env := newEnv(t, []client.Object{newLease("l1", "alice", granted("e1")), newExporter("e1", withStatus(jumpstarterv1alpha1.ExporterStatusLeaseReady))})
	dial := func() *jumpstarterv1.DialResponse {
		t.Helper()
		resp, err := env.ctl.Dial(asClient(context.Background(), "alice"), &jumpstarterv1.DialRequest{LeaseName: "l1"})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	first, firstDone, _ := listen(t, env, "e1", "l1")
	l1 := waitListening(t, env, "l1")
	if want := dial(); next(t, first).GetRouterToken() != want.GetRouterToken() {
		t.Fatal("first listener got another ticket")
	}

	second, secondDone, cancelSecond := listen(t, env, "e1", "l1")
	eventually(t, "the second Listen to take over", func() bool { return waitListening(t, env, "l1") != l1 })
	if err := <-firstDone; err != io.EOF {
		t.Fatalf("replaced stream ended with %v, want a clean end (io.EOF)", err)
	}
	if want := dial(); next(t, second).GetRouterToken() != want.GetRouterToken() {
		t.Fatal("second listener got another ticket")
	}
	cancelSecond()
	<-secondDone
	eventually(t, "the listener to go", func() bool {
		env.server.listeners.mu.Lock()
		defer env.server.listeners.mu.Unlock()
		return len(env.server.listeners.byUID) == 0
	})
	_, err := env.ctl.Dial(asClient(context.Background(), "alice"), &jumpstarterv1.DialRequest{LeaseName: "l1"})
	wantStatus(t, err, codes.Unavailable, "exporter is not listening on lease l1")
}

// gatedStream is a Listen stream whose Send blocks until the gate opens, so that tickets pile
// up in the listener's buffer.
type gatedStream struct {
	grpc.ServerStreamingServer[jumpstarterv1.ListenResponse]
	ctx  context.Context
	gate chan struct{}
	mu   sync.Mutex
	sent []string
}

func (s *gatedStream) Context() context.Context { return s.ctx }

func (s *gatedStream) Send(m *jumpstarterv1.ListenResponse) error {
	<-s.gate
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, m.GetRouterToken())
	return nil
}

func TestReplacedListenFlushesItsBuffer(t *testing.T) {
	env := newEnv(t, []client.Object{newLease("l1", "alice", granted("e1"))})
	uid := env.lease("l1").UID
	ctx := identity.NewContext(context.Background(), identity.Identity{Kind: identity.KindExporter, Namespace: ns, Name: "e1"})
	stream := &gatedStream{ctx: ctx, gate: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- env.server.Listen(&jumpstarterv1.ListenRequest{LeaseName: "l1"}, stream) }()
	waitListening(t, env, "l1")
	for _, tok := range []string{"t1", "t2", "t3"} {
		if err := env.server.listeners.deliver(uid, &jumpstarterv1.ListenResponse{RouterToken: tok}); err != nil {
			t.Fatal(err)
		}
	}
	newer := env.server.listeners.register(uid)
	if err := env.server.listeners.deliver(uid, &jumpstarterv1.ListenResponse{RouterToken: "t4"}); err != nil {
		t.Fatal(err)
	}
	close(stream.gate)
	if err := <-done; err != nil {
		t.Fatalf("replaced Listen = %v, want a clean end", err)
	}
	if got := stream.sent; len(got) != 3 || got[0] != "t1" || got[2] != "t3" {
		t.Errorf("replaced stream sent %v, want t1 t2 t3", got)
	}
	if got := <-newer.tickets; got.GetRouterToken() != "t4" {
		t.Errorf("newer listener got %v, want t4", got)
	}
}
