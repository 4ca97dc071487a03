package routerd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"

	"jumpstarter.dev/service/pkg/auth/routertoken"
	"jumpstarter.dev/service/pkg/lab"
	"jumpstarter.dev/service/pkg/tunnel"
)

func TestValidate(t *testing.T) {
	o := DefaultOptions()
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--tls-cert-file") {
		t.Errorf("Validate without a certificate = %v", err)
	}
	o.TLSCertFile, o.TLSKeyFile, o.PairingTimeout = "c", "k", 0
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--pairing-timeout") {
		t.Errorf("Validate with a zero pairing timeout = %v", err)
	}
	t.Setenv(EnvPodNamespace, "")
	if ns := (&Options{}).namespace(); ns != DefaultNamespace {
		t.Errorf("namespace = %q, want %q", ns, DefaultNamespace)
	}
	t.Setenv(EnvPodNamespace, "pods-ns")
	if ns := (&Options{}).namespace(); ns != "pods-ns" {
		t.Errorf("namespace = %q, want the pod's", ns)
	}
}

// freePort is a loopback port free on both TCP and UDP, as the router binds both.
func freePort(t *testing.T) int {
	t.Helper()
	port, err := lab.FreeTCPAndUDPPort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// TestRunWithoutCluster runs the router as cmd/router does with --lease-watch=false and a
// key file, carries bytes over both transports, and reads its metrics and probes.
func TestRunWithoutCluster(t *testing.T) {
	dir := t.TempDir()
	ca, err := lab.NewCA("routerd-test")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServingCert("router", []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := routertoken.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.TLSCertFile, o.TLSKeyFile, o.RouterKeyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "key")
	for f, data := range map[string][]byte{o.TLSCertFile: certPEM, o.TLSKeyFile: keyPEM, o.RouterKeyFile: append(key, '\n')} {
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o.LeaseWatch = false
	o.BindAddress = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	o.MetricsBindAddress = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	o.HealthProbeBindAddress = fmt.Sprintf("127.0.0.1:%d", freePort(t))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	get := func(addr, path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for code, _ := get(o.HealthProbeBindAddress, "/readyz"); code != http.StatusOK; code, _ = get(o.HealthProbeBindAddress, "/readyz") {
		if time.Now().After(deadline) {
			t.Fatal("router not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}

	signer, err := routertoken.NewSigner(key, clock.RealClock{})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	clientTLS := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	tok, _, err := signer.Mint(routertoken.LeaseRef{Namespace: "lab", Name: "l", UID: "u"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	exporter, err := tunnel.Dial(ctx, tunnel.TransportQUIC, o.BindAddress, tok, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer exporter.Close()
	client, err := tunnel.Dial(ctx, tunnel.TransportGRPC, o.BindAddress, tok, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(exporter, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("exporter read %q, %v", buf, err)
	}
	// The first stream's goroutine records the pairing wait when it wakes, which may be after
	// the first bytes went through: look until the metrics show everything, or time out.
	wants := []string{`jumpstarter_router_streams_open{transport="grpc"} 1`, `jumpstarter_router_streams_open{transport="quic"} 1`, "go_goroutines", "jumpstarter_router_pairing_wait_seconds_count 1"}
	var code int
	var metrics string
	_ = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		code, metrics = get(o.MetricsBindAddress, "/metrics")
		for _, want := range wants {
			if code != http.StatusOK || !strings.Contains(metrics, want) {
				return false, nil
			}
		}
		return true, nil
	})
	for _, want := range wants {
		if code != http.StatusOK || !strings.Contains(metrics, want) {
			t.Errorf("metrics (HTTP %d) lack %q", code, want)
		}
	}
}
