package exporter

import (
	"context"
	"errors"
	"fmt"
	"k8s.io/apimachinery/pkg/util/wait"
	"math"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"
	"k8s.io/klog/v2"

	"jumpstarter.dev/service/pkg/clientconfig"
	"jumpstarter.dev/service/pkg/drivers/builtin"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// clientKeepalive of the controller connection: the Python tools' defaults (§3.1).
var clientKeepalive = keepalive.ClientParameters{
	Time:                20 * time.Second,
	Timeout:             180 * time.Second,
	PermitWithoutStream: true,
}

// LabelName is the exporter label the agent registers, with the exporter's name (§3.8).
const LabelName = "jumpstarter.dev/name"

// errLeaseEnded ends Run after a lease when the config says exitOnLeaseEnd.
var errLeaseEnded = errors.New("lease ended and exitOnLeaseEnd is set")

// Agent is one exporter: one config, one controller connection, at most one lease session.
type Agent struct {
	cfg    *clientconfig.ExporterConfig
	dial   Dialer
	opts   options
	tls    credentials.TransportCredentials
	tree   *tree
	report *jumpstarterv1.GetReportResponse
	status statusState
}

// New checks cfg and builds its driver tree. dial opens the tunnel of each Listen ticket.
func New(cfg *clientconfig.ExporterConfig, dial Dialer, opts ...Option) (*Agent, error) {
	if cfg == nil {
		return nil, errors.New("exporter: no config")
	}
	if dial == nil {
		return nil, errors.New("exporter: no tunnel dialer")
	}
	if cfg.Endpoint == "" {
		return nil, errors.New("exporter config: endpoint: required, the controller's host:port")
	}
	if cfg.Token == "" {
		return nil, errors.New("exporter config: token: required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("exporter config: %w", err)
	}
	o := options{retry: DefaultRetryPolicy()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.registry == nil {
		o.registry = builtin.Registry()
	}
	tlsConfig, err := ClientTLSConfig(cfg.TLS, cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("exporter config: %w", err)
	}
	t, err := buildTree(o.registry, cfg)
	if err != nil {
		return nil, fmt.Errorf("exporter config: %w", err)
	}
	a := &Agent{cfg: cfg, dial: dial, opts: o, tls: credentials.NewTLS(tlsConfig), tree: t}
	a.report = &jumpstarterv1.GetReportResponse{
		Uuid:    uuid.NewString(),
		Labels:  a.labels(),
		Reports: t.reports,
	}
	if cfg.Motd != nil {
		a.report.Motd = *cfg.Motd
	}
	return a, nil
}

func (a *Agent) labels() map[string]string {
	return map[string]string{LabelName: a.cfg.Metadata.Name}
}

// Run registers the exporter and serves its leases until ctx ends, then reports OFFLINE and
// unregisters. It returns nil after ctx ends (or after a lease with exitOnLeaseEnd), and an
// error when the controller cannot be reached as §3.8's retries allow.
func (a *Agent) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithValues("exporter", klog.KRef(a.cfg.Metadata.Namespace, a.cfg.Metadata.Name))
	ctx = klog.NewContext(ctx, logger)
	if a.cfg.Hooks.BeforeLease != nil || a.cfg.Hooks.AfterLease != nil {
		logger.Info("Lease hooks are not supported by this exporter; ignoring hooks.beforeLease and hooks.afterLease")
	}

	dialOpts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(a.tls),
		grpc.WithPerRPCCredentials(exporterCredentials(a.cfg.Metadata.Namespace, a.cfg.Metadata.Name, a.cfg.Token)),
		grpc.WithKeepaliveParams(clientKeepalive),
	}, a.opts.dialOptions...)
	conn, err := grpc.NewClient(a.cfg.Endpoint, dialOpts...)
	if err != nil {
		return fmt.Errorf("controller %s: %w", a.cfg.Endpoint, err)
	}
	defer conn.Close()
	ctl := jumpstarterv1.NewControllerServiceClient(conn)

	err = callWithRetry(ctx, a.opts.retry, nil, func(ctx context.Context) error {
		_, err := ctl.Register(ctx, &jumpstarterv1.RegisterRequest{Labels: a.labels(), Reports: a.tree.reports})
		return err
	})
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("register with controller %s: %w", a.cfg.Endpoint, err)
	}
	logger.Info("Registered", "controller", a.cfg.Endpoint, "drivers", len(a.tree.reports)-1)

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	rep := newReporter(ctl, a.opts.retry)
	var wg sync.WaitGroup
	wg.Go(func() { rep.run(runCtx) })
	leases := &leaseManager{agent: a, ctl: ctl, reporter: rep, fail: cancel}
	leases.setStatus(jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE, msgRegistered)

	err = followStream(runCtx, a.opts.retry, "status stream",
		func(ctx context.Context) (grpc.ServerStreamingClient[jumpstarterv1.StatusResponse], error) {
			return ctl.Status(ctx, &jumpstarterv1.StatusRequest{})
		}, nil, func(st *jumpstarterv1.StatusResponse) { leases.update(runCtx, st) })
	leases.stop(ctx)
	cancel(err)
	wg.Wait()

	a.shutdown(ctx, ctl)

	cause := context.Cause(runCtx)
	switch {
	case ctx.Err() != nil, errors.Is(cause, errLeaseEnded):
		return nil
	default:
		return cause
	}
}

// RunUntilDone runs the agent until ctx ends, registering again whenever Run gives up on the
// controller (its retries follow the Python exporter's and last seconds): a controller that
// restarts, or a rollout of its single replica, must not leave the exporter down for good.
// It returns nil when ctx ends, or when the configuration asks to exit after a lease.
func (a *Agent) RunUntilDone(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	policy := a.opts.retry
	backoff := wait.Backoff{Duration: policy.Backoff, Factor: 2, Jitter: 0.1, Cap: policy.MaxBackoff, Steps: math.MaxInt32}
	for {
		started := time.Now()
		err := a.Run(ctx)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		if time.Since(started) >= policy.ReconnectReset {
			backoff = wait.Backoff{Duration: policy.Backoff, Factor: 2, Jitter: 0.1, Cap: policy.MaxBackoff, Steps: math.MaxInt32}
		}
		delay := backoff.Step()
		logger.Error(err, "Lost the controller; registering again", "in", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
}

// shutdown reports OFFLINE and unregisters, within the policy's budget, even when ctx has
// ended (it usually has: that is why Run stops).
func (a *Agent) shutdown(ctx context.Context, ctl jumpstarterv1.ControllerServiceClient) {
	logger := klog.FromContext(ctx)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.retry.ShutdownTimeout)
	defer cancel()
	a.status.set(jumpstarterv1.ExporterStatus_EXPORTER_STATUS_OFFLINE, msgShuttingDown)
	err := callWithRetry(ctx, a.opts.retry, nil, func(ctx context.Context) error {
		_, err := ctl.ReportStatus(ctx, &jumpstarterv1.ReportStatusRequest{
			Status:  jumpstarterv1.ExporterStatus_EXPORTER_STATUS_OFFLINE,
			Message: proto.String(msgShuttingDown),
		})
		return err
	})
	if err != nil {
		logger.Error(err, "Reporting OFFLINE failed")
	}
	err = callWithRetry(ctx, a.opts.retry, nil, func(ctx context.Context) error {
		_, err := ctl.Unregister(ctx, &jumpstarterv1.UnregisterRequest{Reason: reasonShutdown})
		return err
	})
	if err != nil {
		logger.Error(err, "Unregister failed")
		return
	}
	logger.Info("Unregistered")
}

// leaseManager follows the Status stream: it starts and ends lease sessions. update runs on
// the Status stream's goroutine only; stop runs after it.
type leaseManager struct {
	agent    *Agent
	ctl      jumpstarterv1.ControllerServiceClient
	reporter *reporter
	fail     context.CancelCauseFunc

	current *activeLease
}

// activeLease is the lease being served: its session and its Listen loop.
type activeLease struct {
	name    string
	session *session
	cancel  context.CancelFunc
	done    chan struct{}

	// mu orders the lease's status reports: LEASE_READY (from the Listen loop) never
	// follows the report that ends the lease.
	mu    sync.Mutex
	ended bool
}

func (m *leaseManager) setStatus(st jumpstarterv1.ExporterStatus, message string) {
	m.agent.status.set(st, message)
	m.reporter.report(st, message)
}

func (m *leaseManager) update(ctx context.Context, st *jumpstarterv1.StatusResponse) {
	logger := klog.FromContext(ctx)
	leased := st.GetLeased() && st.GetLeaseName() != ""
	switch {
	case leased && m.current != nil && m.current.name == st.GetLeaseName():
	case leased:
		if m.current != nil {
			m.end(ctx, false)
		}
		logger.Info("Leased", "lease", st.GetLeaseName(), "client", st.GetClientName())
		m.start(ctx, st.GetLeaseName())
	case st.GetLeased():
		logger.Info("Status says leased but names no lease; waiting for the lease name")
	case m.current != nil:
		m.end(ctx, true)
		if m.agent.cfg.ExitOnLeaseEnd {
			m.fail(errLeaseEnded)
		}
	}
}

func (m *leaseManager) start(ctx context.Context, lease string) {
	a := m.agent
	logger := klog.FromContext(ctx).WithValues("lease", lease)
	svc := &service{report: a.report, tree: a.tree, status: &a.status, logs: newLogHub(), logger: logger}
	leaseCtx, cancel := context.WithCancel(klog.NewContext(ctx, logger))
	l := &activeLease{name: lease, session: newSession(svc), cancel: cancel, done: make(chan struct{})}
	m.current = l
	go func() {
		defer close(l.done)
		err := followStream(leaseCtx, a.opts.retry, "listen stream",
			func(ctx context.Context) (grpc.ServerStreamingClient[jumpstarterv1.ListenResponse], error) {
				return m.ctl.Listen(ctx, &jumpstarterv1.ListenRequest{LeaseName: lease})
			},
			func() {
				l.mu.Lock()
				defer l.mu.Unlock()
				if !l.ended {
					m.setStatus(jumpstarterv1.ExporterStatus_EXPORTER_STATUS_LEASE_READY, msgLeaseReady)
				}
			},
			func(t *jumpstarterv1.ListenResponse) { go m.tunnel(leaseCtx, l.session, t) })
		if leaseCtx.Err() == nil {
			m.fail(fmt.Errorf("lease %s: %w", lease, err))
		}
	}()
}

// tunnel opens the tunnel of one Listen ticket and hands it to the session.
func (m *leaseManager) tunnel(ctx context.Context, s *session, t *jumpstarterv1.ListenResponse) {
	logger := klog.FromContext(ctx).WithValues("router", t.GetRouterEndpoint())
	conn, err := m.agent.dial(ctx, t.GetRouterEndpoint(), t.GetRouterToken())
	if err != nil {
		if ctx.Err() == nil {
			logger.Error(err, "Opening the tunnel failed")
		}
		return
	}
	logger.V(1).Info("Tunnel open")
	s.serve(conn)
}

// end closes the current lease's session; available reports AVAILABLE first, as the
// Python exporter does when the controller ends the lease.
func (m *leaseManager) end(ctx context.Context, available bool) {
	l := m.current
	m.current = nil
	l.mu.Lock()
	l.ended = true
	if available {
		m.setStatus(jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE, msgAvailable)
	}
	l.mu.Unlock()
	l.cancel()
	l.session.close()
	<-l.done
	klog.FromContext(ctx).Info("Lease ended", "lease", l.name)
}

// stop ends the current lease, if any, without a status report: Run reports OFFLINE next.
func (m *leaseManager) stop(ctx context.Context) {
	if m.current != nil {
		m.end(ctx, false)
	}
}
