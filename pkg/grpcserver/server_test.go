package grpcserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	reflectiongrpc "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"jumpstarter.dev/service/pkg/lab"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// testPKI is a CA and a serving certificate for 127.0.0.1 and localhost, written to files.
type testPKI struct {
	ca                *lab.CA
	certFile, keyFile string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	ca, err := lab.NewCA("grpcserver-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServingCert("controller", []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := testPKI{ca: ca, certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key")}
	if err := os.WriteFile(p.certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type controllerService struct {
	jumpstarterv1.UnimplementedControllerServiceServer
}

// serve runs a server on a loopback listener until the test ends and returns its address and
// a function that stops it and returns Serve's result.
func serve(t *testing.T, opts Options) (string, func() error) {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if s.NeedLeaderElection() {
		t.Error("NeedLeaderElection() = true, want every replica to serve")
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis) }()
	stop := sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return after its context ended")
			return nil
		}
	})
	t.Cleanup(func() { _ = stop() })
	return lis.Addr().String(), stop
}

func dial(t *testing.T, addr string, ca *lab.CA) *grpc.ClientConn {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func TestServesHealthAndReflectionOverTLS(t *testing.T) {
	pki := newTestPKI(t)
	var unaryCalls, streamCalls atomic.Int32
	addr, _ := serve(t, Options{
		CertFile:   pki.certFile,
		KeyFile:    pki.keyFile,
		Controller: &controllerService{},
		UnaryInterceptors: []grpc.UnaryServerInterceptor{func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			unaryCalls.Add(1)
			return handler(ctx, req)
		}},
		StreamInterceptors: []grpc.StreamServerInterceptor{func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			streamCalls.Add(1)
			return handler(srv, ss)
		}},
	})
	conn := dial(t, addr, pki.ca)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	healthClient := healthgrpc.NewHealthClient(conn)
	for _, service := range []string{"", "jumpstarter.v1.ControllerService"} {
		resp, err := healthClient.Check(ctx, &healthgrpc.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("health check %q: %v", service, err)
		}
		if resp.Status != healthgrpc.HealthCheckResponse_SERVING {
			t.Errorf("health of %q = %s, want SERVING", service, resp.Status)
		}
	}
	if _, err := healthClient.Check(ctx, &healthgrpc.HealthCheckRequest{Service: "jumpstarter.client.v1.ClientService"}); status.Code(err) != codes.NotFound {
		t.Errorf("health of the unregistered ClientService: %v, want NotFound", err)
	}
	if unaryCalls.Load() == 0 {
		t.Error("the unary interceptor did not run")
	}

	stream, err := reflectiongrpc.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectiongrpc.ServerReflectionRequest{MessageRequest: &reflectiongrpc.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var services []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		services = append(services, s.GetName())
	}
	for _, want := range []string{"jumpstarter.v1.ControllerService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !slices.Contains(services, want) {
			t.Errorf("reflection lists %v, missing %s", services, want)
		}
	}
	if slices.Contains(services, "jumpstarter.client.v1.ClientService") {
		t.Errorf("reflection lists the ClientService, which was nil")
	}
	if streamCalls.Load() == 0 {
		t.Error("the stream interceptor did not run")
	}

	// A registered service answers (Unimplemented here, from the embedded stub).
	_, err = jumpstarterv1.NewControllerServiceClient(conn).GetLease(ctx, &jumpstarterv1.GetLeaseRequest{Name: "x"})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("GetLease: %v, want Unimplemented", err)
	}
}

func TestRejectsClientsWithAnotherCA(t *testing.T) {
	pki := newTestPKI(t)
	addr, _ := serve(t, Options{CertFile: pki.certFile, KeyFile: pki.keyFile})
	other, err := lab.NewCA("another-ca")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = healthgrpc.NewHealthClient(dial(t, addr, other)).Check(ctx, &healthgrpc.HealthCheckRequest{})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("health check trusting another CA: %v, want Unavailable about the certificate", err)
	}
}

func TestNegotiatesH2AndTLS12OrLater(t *testing.T) {
	pki := newTestPKI(t)
	addr, _ := serve(t, Options{CertFile: pki.certFile, KeyFile: pki.keyFile})
	roots := x509.NewCertPool()
	roots.AddCert(pki.ca.Cert)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, NextProtos: []string{"h2"}, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	state := conn.ConnectionState()
	_ = conn.Close()
	if state.NegotiatedProtocol != "h2" {
		t.Errorf("ALPN %q, want h2", state.NegotiatedProtocol)
	}
	old, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS11, ServerName: "localhost"})
	if err == nil {
		_ = old.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}
}

func TestShutdownIsBoundedAndTurnsHealthNotServing(t *testing.T) {
	pki := newTestPKI(t)
	addr, stop := serve(t, Options{CertFile: pki.certFile, KeyFile: pki.keyFile, ShutdownTimeout: 300 * time.Millisecond})
	conn := dial(t, addr, pki.ca)
	// A Watch stream never ends by itself: it holds up GracefulStop until the timeout.
	watch, err := healthgrpc.NewHealthClient(conn).Watch(t.Context(), &healthgrpc.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := watch.Recv()
	if err != nil || first.Status != healthgrpc.HealthCheckResponse_SERVING {
		t.Fatalf("first Watch answer %v, %v; want SERVING", first, err)
	}
	begin := time.Now()
	if err := stop(); err != nil {
		t.Errorf("Serve returned %v after its context ended, want nil", err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("shutdown took %s with a 300ms timeout", took)
	}
	next, err := watch.Recv()
	if err != nil || next.Status != healthgrpc.HealthCheckResponse_NOT_SERVING {
		t.Errorf("Watch after shutdown: %v, %v; want NOT_SERVING", next, err)
	}
}

func TestStartListensOnBindAddress(t *testing.T) {
	pki := newTestPKI(t)
	s, err := New(Options{BindAddress: "127.0.0.1:0", CertFile: pki.certFile, KeyFile: pki.keyFile})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for s.Addr() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s.Addr() == nil {
		t.Fatal("Start did not listen")
	}
	resp, err := healthgrpc.NewHealthClient(dial(t, s.Addr().String(), pki.ca)).Check(ctx, &healthgrpc.HealthCheckRequest{})
	if err != nil || resp.Status != healthgrpc.HealthCheckResponse_SERVING {
		t.Errorf("health check: %v, %v", resp, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Start returned %v", err)
	}
}

func TestConfigurationErrors(t *testing.T) {
	pki := newTestPKI(t)
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "no certificate", opts: Options{BindAddress: ":0"}, want: "certificate file and key file are required"},
		{name: "missing file", opts: Options{CertFile: "/nonexistent/tls.crt", KeyFile: pki.keyFile}, want: "/nonexistent/tls.crt"},
		{name: "key of another certificate", opts: Options{CertFile: pki.certFile, KeyFile: newTestPKI(t).keyFile}, want: "load certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	s, err := New(Options{CertFile: pki.certFile, KeyFile: pki.keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "no bind address") {
		t.Errorf("Start without a bind address: %v", err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	s, err = New(Options{BindAddress: busy.Addr().String(), CertFile: pki.certFile, KeyFile: pki.keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "listen on "+busy.Addr().String()) {
		t.Errorf("Start on a busy port: %v", err)
	}
}

func TestMain(m *testing.M) {
	// The certificate watcher logs through controller-runtime's global logger.
	ctrllog.SetLogger(klog.Background())
	os.Exit(m.Run())
}
