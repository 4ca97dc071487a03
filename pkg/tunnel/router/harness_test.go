package router

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"jumpstarter.dev/service/pkg/auth/routertoken"
	"jumpstarter.dev/service/pkg/lab"
	"jumpstarter.dev/service/pkg/tunnel/leasewatch"
)

var routerKey = []byte(strings.Repeat("k", 48))

// env is a router on loopback with a test CA, a token signer and leases the test controls.
type env struct {
	t         *testing.T
	srv       *Server
	endpoint  string
	clientTLS *tls.Config
	signer    *routertoken.Signer
	leases    *leasewatch.Memory
	registry  *prometheus.Registry
	stop      func()
}

type envOptions struct {
	pairingTimeout     time.Duration
	maxStreamsPerLease int
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	ca, err := lab.NewCA("router-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServingCert("router", []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	verifier, err := routertoken.NewVerifier(routerKey, clock.RealClock{})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := routertoken.NewSigner(routerKey, clock.RealClock{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, signer: signer, leases: leasewatch.NewMemory(), registry: prometheus.NewRegistry()}
	e.srv, err = New(Options{
		CertFile:           certFile,
		KeyFile:            keyFile,
		Verifier:           verifier,
		Leases:             e.leases,
		PairingTimeout:     o.pairingTimeout,
		MaxStreamsPerLease: o.maxStreamsPerLease,
		HeaderTimeout:      2 * time.Second,
		ShutdownTimeout:    time.Second,
		Registerer:         e.registry,
	})
	if err != nil {
		t.Fatal(err)
	}
	lis, udp := listenPair(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, lis, udp) }()
	e.endpoint = lis.Addr().String()
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	e.clientTLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	var once sync.Once
	var stopRouter func()
	e.stop = func() { once.Do(stopRouter) }
	stopRouter = func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("router did not stop")
		}
	}
	t.Cleanup(e.stop)
	waitFor(t, "router serving", e.srv.Serving)
	return e
}

// listenPair listens on TCP and UDP on the same loopback port.
func listenPair(t *testing.T) (net.Listener, net.PacketConn) {
	t.Helper()
	for range 20 {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		udp, err := net.ListenPacket("udp", lis.Addr().String())
		if err == nil {
			return lis, udp
		}
		_ = lis.Close()
	}
	t.Fatal("no port free on both TCP and UDP")
	return nil, nil
}

// lease starts a lease and returns it.
func (e *env) lease(name string) routertoken.LeaseRef {
	ref := routertoken.LeaseRef{Namespace: "lab", Name: name, UID: types.UID("uid-" + name)}
	e.leases.Start(ref)
	return ref
}

// token mints a token for lease.
func (e *env) token(lease routertoken.LeaseRef) string {
	e.t.Helper()
	tok, _, err := e.signer.Mint(lease, time.Time{})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
