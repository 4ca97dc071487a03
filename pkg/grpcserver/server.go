package grpcserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// Transport tuning (wire contract §3.1).
const (
	// KeepaliveMinTime is the shortest ping interval a client may use, with or without calls:
	// the reference controller's 1 s, well under the Python tools' 20 s.
	KeepaliveMinTime = time.Second
	// keepaliveTime: the server pings a connection idle this long, so that the streams of a
	// peer that vanished (an exporter losing power) end within keepaliveTime+keepaliveTimeout.
	keepaliveTime = 30 * time.Second
	// keepaliveTimeout is how long the server waits for the answer to its ping.
	keepaliveTimeout = 20 * time.Second
	// DefaultShutdownTimeout bounds the graceful stop before open streams are cut.
	DefaultShutdownTimeout = 10 * time.Second
)

// Options configure New.
type Options struct {
	// BindAddress is the host:port Start listens on (":8082").
	BindAddress string
	// CertFile and KeyFile are the PEM serving certificate (with its chain) and key; both are
	// reloaded when they change.
	CertFile, KeyFile string
	// UnaryInterceptors and StreamInterceptors run in order around every call, the health
	// and reflection services included.
	UnaryInterceptors  []grpc.UnaryServerInterceptor
	StreamInterceptors []grpc.StreamServerInterceptor
	// Controller and Client are the services; a nil one is not registered.
	Controller jumpstarterv1.ControllerServiceServer
	Client     clientv1.ClientServiceServer
	// ShutdownTimeout bounds the graceful stop; zero means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// ServerOptions are appended to the server's own (stats handlers, message limits).
	ServerOptions []grpc.ServerOption
}

// Server is the controller's gRPC server as a manager.Runnable. It serves once: Start (or
// Serve) returns when its context ends, and the server cannot be started again.
type Server struct {
	bindAddress     string
	shutdownTimeout time.Duration
	grpc            *grpc.Server
	health          *health.Server
	certs           *certwatcher.CertWatcher

	mu   sync.Mutex
	addr net.Addr
}

var (
	_ manager.Runnable               = (*Server)(nil)
	_ manager.LeaderElectionRunnable = (*Server)(nil)
)

// New builds the server: it loads the certificate (an unreadable or invalid pair is an error
// here, not at the first handshake) and registers the services.
func New(opts Options) (*Server, error) {
	if opts.CertFile == "" || opts.KeyFile == "" {
		return nil, errors.New("grpc server: a TLS certificate file and key file are required (TLS is mandatory for Jumpstarter clients)")
	}
	certs, err := certwatcher.New(opts.CertFile, opts.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("grpc server: load certificate %s and key %s: %w", opts.CertFile, opts.KeyFile, err)
	}
	tlsConfig := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: certs.GetCertificate,
	}
	serverOpts := []grpc.ServerOption{
		// NewTLS adds h2 to the ALPN protocols.
		grpc.Creds(credentials.NewTLS(tlsConfig)),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: KeepaliveMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.ChainUnaryInterceptor(opts.UnaryInterceptors...),
		grpc.ChainStreamInterceptor(opts.StreamInterceptors...),
	}
	s := &Server{
		bindAddress:     opts.BindAddress,
		shutdownTimeout: opts.ShutdownTimeout,
		grpc:            grpc.NewServer(append(serverOpts, opts.ServerOptions...)...),
		health:          health.NewServer(),
		certs:           certs,
	}
	if s.shutdownTimeout <= 0 {
		s.shutdownTimeout = DefaultShutdownTimeout
	}
	if opts.Controller != nil {
		jumpstarterv1.RegisterControllerServiceServer(s.grpc, opts.Controller)
	}
	if opts.Client != nil {
		clientv1.RegisterClientServiceServer(s.grpc, opts.Client)
	}
	healthgrpc.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	// Not serving until Serve runs (the health server starts out SERVING).
	s.health.SetServingStatus("", healthgrpc.HealthCheckResponse_NOT_SERVING)
	return s, nil
}

// GRPCServer is the underlying server, to register further services before Start.
func (s *Server) GRPCServer() *grpc.Server { return s.grpc }

// Addr is the address the server listens on, nil before it does: with BindAddress port 0,
// the port picked.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// NeedLeaderElection is false: every replica serves.
func (s *Server) NeedLeaderElection() bool { return false }

// Start listens on BindAddress and serves until ctx ends (manager.Runnable).
func (s *Server) Start(ctx context.Context) error {
	if s.bindAddress == "" {
		return errors.New("grpc server: no bind address")
	}
	lis, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.bindAddress)
	if err != nil {
		return fmt.Errorf("grpc server: listen on %s: %w", s.bindAddress, err)
	}
	return s.Serve(ctx, lis)
}

// Serve serves on lis until ctx ends, then turns the health service NOT_SERVING and stops
// gracefully, cutting what is still open after the shutdown timeout. It closes lis.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	logger := klog.FromContext(ctx).WithName("grpc")
	s.mu.Lock()
	s.addr = lis.Addr()
	s.mu.Unlock()

	certCtx, stopCerts := context.WithCancel(ctx)
	defer stopCerts()
	go func() {
		if err := s.certs.Start(certCtx); err != nil && certCtx.Err() == nil {
			logger.Error(err, "Certificate watch failed; the certificate will not be reloaded", "addr", lis.Addr())
		}
	}()

	served := make(chan error, 1)
	go func() { served <- s.grpc.Serve(lis) }()
	s.setServing(healthgrpc.HealthCheckResponse_SERVING)
	logger.Info("Serving gRPC", "addr", lis.Addr(), "services", s.serviceNames())

	select {
	case err := <-served:
		s.health.Shutdown()
		return fmt.Errorf("grpc server on %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}
	s.health.Shutdown()
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(s.shutdownTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
		logger.Info("gRPC server stopped", "addr", lis.Addr())
	case <-timer.C:
		logger.Info("gRPC calls still open after the shutdown timeout, closing them", "addr", lis.Addr(), "timeout", s.shutdownTimeout)
		s.grpc.Stop()
		<-stopped
	}
	return nil
}

// setServing sets the overall status and that of every registered service.
func (s *Server) setServing(status healthgrpc.HealthCheckResponse_ServingStatus) {
	s.health.SetServingStatus("", status)
	for _, name := range s.serviceNames() {
		s.health.SetServingStatus(name, status)
	}
}

func (s *Server) serviceNames() []string {
	return slices.Sorted(maps.Keys(s.grpc.GetServiceInfo()))
}
