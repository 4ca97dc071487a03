package router

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"

	"jumpstarter.dev/service/pkg/auth/routertoken"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
	"jumpstarter.dev/service/pkg/tunnel/h2relay"
	"jumpstarter.dev/service/pkg/tunnel/leasewatch"
	"jumpstarter.dev/service/pkg/tunnel/rendezvous"
	"jumpstarter.dev/service/pkg/tunnel/wire"
)

// Defaults of Options.
const (
	// DefaultBindAddress is the reference router's port, for both TCP (gRPC) and UDP (QUIC).
	DefaultBindAddress = ":8083"
	// DefaultPairingTimeout bounds the wait of a tunnel's first stream for the second: the
	// Python client's dial timeout (§3.7), so a client that got its token in time gets its
	// tunnel, while the ticket of a readiness probe, which no client uses, is dropped.
	DefaultPairingTimeout = 60 * time.Second
	// DefaultHeaderTimeout bounds how long a QUIC connection may take to open its stream and
	// send its header.
	DefaultHeaderTimeout = 10 * time.Second
	// DefaultShutdownTimeout is how long established tunnels may go on after shutdown starts
	// before they are cut.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultMaxStreamsPerLease bounds the tunnel ends one lease may hold open (32 tunnels):
	// each can buffer up to a flow-control window per direction in the router when its far
	// end reads slowly, so without a bound one lease holder could exhaust the router's memory.
	// A client session opens a handful.
	DefaultMaxStreamsPerLease = 64
)

// TokenVerifier checks router tokens; *routertoken.Verifier is one.
type TokenVerifier interface {
	Verify(raw string) (routertoken.Claims, error)
}

// Options configure New.
type Options struct {
	// BindAddress is the host:port served over TCP (gRPC) and UDP (QUIC) by Start.
	BindAddress string
	// CertFile and KeyFile are the PEM serving certificate (with its chain) and key of both
	// transports; reloaded when they change.
	CertFile, KeyFile string
	// Verifier checks tokens; required.
	Verifier TokenVerifier
	// Leases tells whether a token's lease is in force; required (leasewatch.AlwaysActive
	// without a cluster).
	Leases leasewatch.Watcher
	// PairingTimeout bounds the wait for the second stream; zero means DefaultPairingTimeout.
	PairingTimeout time.Duration
	// MaxStreamsPerLease bounds the open tunnel ends of one lease; zero means
	// DefaultMaxStreamsPerLease.
	MaxStreamsPerLease int
	// HeaderTimeout bounds a QUIC connection's header; zero means DefaultHeaderTimeout.
	HeaderTimeout time.Duration
	// ShutdownTimeout bounds established tunnels after shutdown starts; zero means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Registerer registers the router's metrics; nil registers them nowhere.
	Registerer prometheus.Registerer
	// DisableQUIC serves gRPC only.
	DisableQUIC bool
	// Clock times the pairing wait; nil means the real clock.
	Clock clock.Clock
}

// Server is a router: it pairs the two streams of every tunnel, over gRPC or QUIC, and
// forwards between them. It serves once.
type Server struct {
	verifier        TokenVerifier
	leases          leasewatch.Watcher
	table           *rendezvous.Table[endpoint]
	pairingTimeout  time.Duration
	headerTimeout   time.Duration
	shutdownTimeout time.Duration
	bindAddress     string
	disableQUIC     bool

	h2    *h2relay.Server
	certs *certwatcher.CertWatcher // TCP and QUIC

	metrics                    *metrics
	grpcCounters, quicCounters counters

	logger klog.Logger
	wg     sync.WaitGroup // QUIC connection handlers

	maxPerLease int

	mu      sync.Mutex
	byLease map[routertoken.LeaseRef]map[endpoint]struct{}
	serving bool
}

// New builds a router: it loads the certificate and registers the service and metrics.
func New(opts Options) (*Server, error) {
	if opts.Verifier == nil {
		return nil, errors.New("router: a token verifier is required")
	}
	if opts.Leases == nil {
		return nil, errors.New("router: a lease watcher is required")
	}
	s := &Server{
		verifier:        opts.Verifier,
		leases:          opts.Leases,
		pairingTimeout:  orDefault(opts.PairingTimeout, DefaultPairingTimeout),
		headerTimeout:   orDefault(opts.HeaderTimeout, DefaultHeaderTimeout),
		shutdownTimeout: orDefault(opts.ShutdownTimeout, DefaultShutdownTimeout),
		bindAddress:     opts.BindAddress,
		disableQUIC:     opts.DisableQUIC,
		metrics:         newMetrics(),
		logger:          klog.Background(),
		byLease:         map[routertoken.LeaseRef]map[endpoint]struct{}{},
		maxPerLease:     opts.MaxStreamsPerLease,
	}
	if s.maxPerLease <= 0 {
		s.maxPerLease = DefaultMaxStreamsPerLease
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	s.table = rendezvous.New[endpoint](s.pairingTimeout, clk)
	s.grpcCounters = s.metrics.counters(transportGRPC)
	s.quicCounters = s.metrics.counters(transportQUIC)
	if opts.Registerer != nil {
		if err := s.metrics.register(opts.Registerer); err != nil {
			return nil, fmt.Errorf("router: register metrics: %w", err)
		}
	}
	if opts.CertFile == "" || opts.KeyFile == "" {
		return nil, errors.New("router: a TLS certificate file and key file are required")
	}
	var err error
	if s.certs, err = certwatcher.New(opts.CertFile, opts.KeyFile); err != nil {
		return nil, fmt.Errorf("router: load certificate %s and key %s: %w", opts.CertFile, opts.KeyFile, err)
	}
	s.h2, err = h2relay.NewServer(h2relay.Options{
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: s.certs.GetCertificate,
		},
		Method:         "/" + jumpstarterv1.RouterService_Stream_FullMethodName[1:],
		Handler:        s.serveStream,
		HealthServices: []string{"", jumpstarterv1.RouterService_ServiceDesc.ServiceName},
	})
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Serving reports whether the router accepts tunnels (for readiness probes).
func (s *Server) Serving() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serving
}

// Waiting is the number of streams waiting for their peer.
func (s *Server) Waiting() int { return s.table.Waiting() }

// Start listens on BindAddress, TCP and UDP on the same port, and serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	if s.bindAddress == "" {
		return errors.New("router: no bind address")
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.bindAddress)
	if err != nil {
		return fmt.Errorf("router: listen on %s: %w", s.bindAddress, err)
	}
	var udp net.PacketConn
	if !s.disableQUIC {
		host, _, err := net.SplitHostPort(s.bindAddress)
		if err != nil {
			_ = lis.Close()
			return fmt.Errorf("router: bind address %q: %w", s.bindAddress, err)
		}
		port := lis.Addr().(*net.TCPAddr).Port
		if udp, err = (&net.ListenConfig{}).ListenPacket(ctx, "udp", net.JoinHostPort(host, fmt.Sprint(port))); err != nil {
			_ = lis.Close()
			return fmt.Errorf("router: listen on udp %s: %w", net.JoinHostPort(host, fmt.Sprint(port)), err)
		}
	}
	return s.Serve(ctx, lis, udp)
}

// Serve serves gRPC on lis and QUIC on udp (nil: gRPC only) until ctx ends, then shuts down:
// waiting streams are refused at once, established tunnels get ShutdownTimeout to finish.
// It closes lis and udp.
func (s *Server) Serve(ctx context.Context, lis net.Listener, udp net.PacketConn) error {
	s.logger = klog.FromContext(ctx).WithName("router")
	unsubscribe := s.leases.Subscribe(s.leaseEnded)
	defer unsubscribe()

	certCtx, stopCerts := context.WithCancel(ctx)
	defer stopCerts()
	go func() {
		if err := s.certs.Start(certCtx); err != nil && certCtx.Err() == nil {
			s.logger.Error(err, "Certificate watch failed; the certificate will not be reloaded")
		}
	}()
	var quicLn *quic.Listener
	var quicTr *quic.Transport
	if udp != nil && !s.disableQUIC {
		quicTr = &quic.Transport{Conn: udp}
		var err error
		quicLn, err = quicTr.Listen(&tls.Config{
			MinVersion:     tls.VersionTLS13,
			GetCertificate: s.certs.GetCertificate,
			NextProtos:     []string{wire.ALPN},
		}, quicConfig())
		if err != nil {
			_ = lis.Close()
			_ = udp.Close()
			return fmt.Errorf("router: QUIC on %s: %w", udp.LocalAddr(), err)
		}
		go s.serveQUIC(ctx, quicLn)
		s.logger.Info("Serving QUIC", "addr", udp.LocalAddr(), "alpn", wire.ALPN)
	} else if udp != nil {
		_ = udp.Close()
	}

	grpcDone := make(chan error, 1)
	go func() { grpcDone <- s.h2.Serve(ctx, lis) }()
	s.logger.Info("Serving gRPC", "addr", lis.Addr(), "method", jumpstarterv1.RouterService_Stream_FullMethodName)
	s.mu.Lock()
	s.serving = true
	s.mu.Unlock()

	var err error
	select {
	case <-ctx.Done():
	case err = <-grpcDone:
		grpcDone <- err
	}
	s.mu.Lock()
	s.serving = false
	s.mu.Unlock()
	s.h2.Shutdown()
	s.shutdown(quicLn)
	s.h2.Close()
	err = errors.Join(err, <-grpcDone)
	s.wg.Wait()
	if quicTr != nil {
		err = errors.Join(err, quicTr.Close())
	}
	return err
}

// shutdown refuses waiting streams, stops accepting QUIC connections, and cuts the tunnels
// still open after the shutdown timeout.
func (s *Server) shutdown(quicLn *quic.Listener) {
	s.table.Close()
	if quicLn != nil {
		_ = quicLn.Close()
	}
	deadline := time.Now().Add(s.shutdownTimeout)
	for s.open() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := s.open(); n > 0 {
		s.logger.Info("Closing tunnels still open after the shutdown timeout", "streams", n, "timeout", s.shutdownTimeout)
	}
	s.abortWhere(func(routertoken.LeaseRef) bool { return true }, wire.CodeUnavailable, "router is shutting down")
}

// admit checks a token and its lease. A refusal is a *wire.CodeError.
func (s *Server) admit(token string) (routertoken.Claims, *wire.CodeError) {
	claims, err := s.verifier.Verify(token)
	if err != nil {
		return claims, &wire.CodeError{Code: wire.CodeUnauthenticated, Msg: "invalid jwt token: " + err.Error()}
	}
	if !s.leases.Active(claims.Lease.Namespace, claims.Lease.Name, claims.Lease.UID) {
		return claims, &wire.CodeError{Code: wire.CodeLeaseEnded, Msg: fmt.Sprintf("lease %s has ended", claims.Lease)}
	}
	return claims, nil
}

// admitShallow is admit on a goroutine of its own, for a caller that then lives as long as
// its tunnel (a QUIC connection's): verifying a token decodes JSON, which grows a goroutine's
// stack to 16 KiB, and the runtime shrinks a stack only below a quarter used.
func (s *Server) admitShallow(token string) (routertoken.Claims, *wire.CodeError) {
	type result struct {
		claims routertoken.Claims
		err    *wire.CodeError
	}
	done := make(chan result, 1)
	go func() {
		c, err := s.admit(token)
		done <- result{c, err}
	}()
	r := <-done
	return r.claims, r.err
}

// run takes an admitted endpoint through pairing, then links it to its peer (link); it
// reports whether it did. Refused, the endpoint has been answered and forgotten.
func (s *Server) run(ep endpoint) bool {
	b := ep.base()
	logger := s.logger.WithValues("transport", ep.transport(), "stream", b.streamID, "lease", b.lease)
	gauge := s.metrics.streamsOpen.WithLabelValues(ep.transport())
	gauge.Inc()

	refuse := func(code wire.Code, msg string) bool {
		s.metrics.refused(code)
		logger.V(2).Info("Refused tunnel stream", "reason", code, "message", msg)
		ep.fail(code, msg)
		return false
	}
	// Tracked before the lease is checked again, so that an end between the two cannot be
	// missed (leasewatch changes its state before it notifies).
	if !s.track(ep) {
		gauge.Dec()
		return refuse(wire.CodeUnavailable, fmt.Sprintf("lease %s already has %d tunnel streams open on this router", b.lease, s.maxPerLease))
	}
	release := func() {
		s.untrack(ep)
		gauge.Dec()
	}
	paired := false
	defer func() {
		if !paired {
			release()
		}
	}()
	if !s.leases.Active(b.lease.Namespace, b.lease.Name, b.lease.UID) {
		return refuse(wire.CodeLeaseEnded, fmt.Sprintf("lease %s has ended", b.lease))
	}
	peer, waiter, err := s.table.Join(b.streamID, b.expires, ep)
	switch {
	case errors.Is(err, rendezvous.ErrDuplicate):
		return refuse(wire.CodeDuplicate, fmt.Sprintf("stream %s already has its two ends", b.streamID))
	case errors.Is(err, rendezvous.ErrClosed):
		return refuse(wire.CodeUnavailable, "router is shutting down")
	case err != nil:
		return refuse(wire.CodeAborted, err.Error())
	}
	if err := ep.accept(); err != nil {
		// Our peer is gone before we could answer it.
		if waiter != nil {
			peer, _ = waiter.Cancel()
		}
		if peer != nil {
			peer.abort(errGone.Code, errGone.Msg)
		}
		ep.fail(wire.CodeAborted, fmt.Sprintf("accept: %v", err))
		return false
	}
	first := waiter != nil
	if first {
		var waited time.Duration
		peer, waited, err = waiter.Wait(b.ctx)
		switch {
		case errors.Is(err, rendezvous.ErrTimeout):
			return refuse(wire.CodeTimeout, fmt.Sprintf("no peer joined stream %s within %s", b.streamID, s.pairingTimeout))
		case errors.Is(err, rendezvous.ErrClosed):
			return refuse(wire.CodeUnavailable, "router is shutting down")
		case err != nil:
			if ce, ok := b.cause(); ok { // aborted while waiting (the lease ended): answered
				s.metrics.refused(ce.Code)
				logger.V(2).Info("Waiting tunnel stream ended", "reason", ce.Code, "message", ce.Msg)
				ep.fail(ce.Code, ce.Msg)
				return false
			}
			logger.V(4).Info("Tunnel stream left before its peer came", "err", err)
			ep.fail(wire.CodeAborted, "stream ended while waiting")
			return false
		}
		s.metrics.pairingWait.Observe(waited.Seconds())
		logger.V(2).Info("Tunnel paired", "waited", waited, "peer", peer.transport())
	}
	paired = true
	s.link(ep, peer, first, logger, release)
	return true
}

// link forwards what ep's peer sends into peer, and ends ep once both directions have ended,
// or at once if ep is aborted or its peer goes away (which aborts the other end too). Nothing
// here waits: the ends are callbacks, so a paired gRPC tunnel needs no goroutine.
func (s *Server) link(ep, peer endpoint, first bool, logger klog.Logger, release func()) {
	b := ep.base()
	var ended atomic.Bool
	b.finish = func() {
		if ended.Swap(true) {
			return
		}
		reason := wire.CodeOK
		if ce, ok := b.cause(); ok {
			reason = ce.Code
		} else if b.ctx.Err() != nil || !closed(b.pumpedCh) || !closed(peer.base().pumpedCh) {
			reason = wire.CodeAborted
		}
		// Counted before release: whoever sees the tunnel gone (open() == 0) sees it counted.
		if first {
			s.metrics.tunnelEnds.WithLabelValues(reason.String()).Inc()
			logger.V(2).Info("Tunnel ended", "reason", reason)
		}
		ep.end()
		release()
	}
	context.AfterFunc(b.ctx, func() {
		if ended.Load() {
			return
		}
		// Our own peer went away, or the tunnel was aborted: the other end goes too, for the
		// same reason if there is one (the lease ended, the router shuts down), so that it does
		// not depend on which end the router happened to abort first.
		code, msg := errGone.Code, errGone.Msg
		if ce, ok := b.cause(); ok {
			code, msg = ce.Code, ce.Msg
		}
		peer.abort(code, msg)
		b.finish()
	})
	ep.forward(peer, func(err error) {
		if err != nil {
			logger.V(4).Info("Tunnel direction failed", "err", err)
			var ce *wire.CodeError
			if !errors.As(err, &ce) {
				// Reading from or writing to an end that was aborted fails plainly: pass on
				// why it was aborted (say, the lease ended), whichever end it was.
				if own, ok := b.cause(); ok {
					ce = own
				} else if theirs, ok := peer.base().cause(); ok {
					ce = theirs
				} else {
					ce = errGone
				}
			}
			peer.abort(ce.Code, ce.Msg)
			ep.abort(ce.Code, ce.Msg)
		}
		close(b.pumpedCh)
		if closed(peer.base().pumpedCh) {
			// Both directions ended: the peer's finish was set before it forwarded.
			b.finish()
			peer.base().finish()
		}
	})
}

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// track registers an endpoint under its lease, for leaseEnded and shutdown.
// track records an open endpoint of its lease, unless the lease has maxPerLease already.
func (s *Server) track(ep endpoint) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	lease := ep.base().lease
	set := s.byLease[lease]
	if len(set) >= s.maxPerLease {
		return false
	}
	if set == nil {
		set = map[endpoint]struct{}{}
		s.byLease[lease] = set
	}
	set[ep] = struct{}{}
	return true
}

func (s *Server) untrack(ep endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lease := ep.base().lease
	delete(s.byLease[lease], ep)
	if len(s.byLease[lease]) == 0 {
		delete(s.byLease, lease)
	}
}

// open is the number of tracked endpoints.
func (s *Server) open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, set := range s.byLease {
		n += len(set)
	}
	return n
}

// leaseEnded closes the streams of a lease that ended, waiting or paired. It runs on the
// lease watcher's goroutine, so it only cancels.
func (s *Server) leaseEnded(lease routertoken.LeaseRef) {
	n := s.abortWhere(func(l routertoken.LeaseRef) bool { return l == lease }, wire.CodeLeaseEnded, fmt.Sprintf("lease %s ended", lease))
	if n > 0 {
		s.logger.V(2).Info("Closed the tunnel streams of an ended lease", "lease", lease, "streams", n)
	}
}

func (s *Server) abortWhere(match func(routertoken.LeaseRef) bool, code wire.Code, msg string) int {
	s.mu.Lock()
	var eps []endpoint
	for lease, set := range s.byLease {
		if match(lease) {
			for ep := range set {
				eps = append(eps, ep)
			}
		}
	}
	s.mu.Unlock()
	for _, ep := range eps {
		ep.abort(code, msg)
	}
	return len(eps)
}
