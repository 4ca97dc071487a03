package routerbench

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"jumpstarter.dev/service/pkg/auth/routertoken"
	"jumpstarter.dev/service/pkg/lab"
)

// envBin names the folder of prebuilt binaries (make bench sets it).
const envBin = "JUMPSTARTER_BIN"

// pki is the benchmark's CA, the serving certificate of every server, and the router key.
type pki struct {
	dir               string
	certFile, keyFile string
	caFile            string
	serverCert        tls.Certificate
	clientTLS         *tls.Config
	routerKeyFile     string
	signer            *routertoken.Signer
	// leases numbers the fake leases: each tunnel gets its own, as 1000 idle tunnels would be
	// 1000 leases (the router caps the streams of one lease).
	leases atomic.Int64
}

func newPKI(b *testing.B) *pki {
	b.Helper()
	ca, err := lab.NewCA("routerbench-ca")
	if err != nil {
		b.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServingCert("routerbench", []string{"127.0.0.1", "localhost"})
	if err != nil {
		b.Fatal(err)
	}
	p := &pki{dir: b.TempDir()}
	p.certFile, p.keyFile = filepath.Join(p.dir, "tls.crt"), filepath.Join(p.dir, "tls.key")
	p.routerKeyFile = filepath.Join(p.dir, "router.key")
	p.caFile = filepath.Join(p.dir, "ca.crt")
	key, err := routertoken.GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	for f, data := range map[string][]byte{p.certFile: certPEM, p.keyFile: keyPEM, p.routerKeyFile: key, p.caFile: ca.CertPEM} {
		if err := os.WriteFile(f, data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	if p.serverCert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	p.clientTLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if p.signer, err = routertoken.NewSigner(key, clock.RealClock{}); err != nil {
		b.Fatal(err)
	}
	return p
}

// token mints a fresh router token (a new stream id) for a fake lease of its own.
func (p *pki) token(b testing.TB) string {
	name := fmt.Sprintf("bench-%d", p.leases.Add(1))
	tok, _, err := p.signer.Mint(routertoken.LeaseRef{Namespace: "bench", Name: name, UID: types.UID(name)}, time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// freePort is a loopback port free on both TCP and UDP, as the router binds both.
func freePort(b *testing.B) int {
	b.Helper()
	port, err := lab.FreeTCPAndUDPPort()
	if err != nil {
		b.Fatal(err)
	}
	return port
}

// routerBinary is cmd/router, prebuilt or built now; "" when neither is possible.
func routerBinary(b *testing.B) string {
	b.Helper()
	if dir := os.Getenv(envBin); dir != "" {
		if path := filepath.Join(dir, "router"); isExecutable(path) {
			return path
		}
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		return ""
	}
	out := filepath.Join(b.TempDir(), "router")
	cmd := exec.Command(goTool, "build", "-o", out, "jumpstarter.dev/service/cmd/router")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build cmd/router: %v\n%s", err, msg)
	}
	return out
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// process is a helper process: the router or the naive relay.
type process struct {
	name     string
	cmd      *exec.Cmd
	endpoint string
	logFile  string
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// startRouter runs cmd/router without a cluster (no lease watch) and waits until it is ready.
func startRouter(b *testing.B, bin string, p *pki) *process {
	b.Helper()
	port, health := freePort(b), freePort(b)
	endpoint := fmt.Sprintf("127.0.0.1:%d", port)
	pr := &process{name: "router", endpoint: endpoint, logFile: filepath.Join(b.TempDir(), "router.log")}
	pr.cmd = exec.Command(bin,
		"--bind-address="+endpoint,
		"--tls-cert-file="+p.certFile, "--tls-key-file="+p.keyFile,
		"--router-key-file="+p.routerKeyFile,
		"--lease-watch=false",
		"--metrics-bind-address=0",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", health))
	logf, err := os.Create(pr.logFile)
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	pr.cmd.Stdout, pr.cmd.Stderr = logf, logf
	if err := pr.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", health)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return pr
			}
		}
		if time.Now().After(deadline) {
			pr.stop()
			log, _ := os.ReadFile(pr.logFile)
			b.Fatalf("router not ready after 30 s:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startNaiveRelay re-executes this test binary as the naive relay.
func startNaiveRelay(b *testing.B, p *pki) *process {
	b.Helper()
	endpoint := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	return startHelper(b, roleNaiveRelay, endpoint, envNaiveArgs+"="+strings.Join([]string{endpoint, p.certFile, p.keyFile, p.routerKeyFile}, ","))
}

// startFarEnd re-executes this test binary as the far end of the direct paths and of
// router-grpc-apart; its endpoint is the gRPC one, tcpEndpoint the TLS TCP one, dialEndpoint
// where it takes requests to dial a router (dialFar).
func startFarEnd(b *testing.B, p *pki) (pr *process, tcpEndpoint, dialEndpoint string) {
	b.Helper()
	tcpEndpoint = fmt.Sprintf("127.0.0.1:%d", freePort(b))
	dialEndpoint = fmt.Sprintf("127.0.0.1:%d", freePort(b))
	endpoint := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	args := []string{tcpEndpoint, endpoint, dialEndpoint, p.certFile, p.keyFile, p.caFile}
	return startHelper(b, roleFarEnd, endpoint, envFarArgs+"="+strings.Join(args, ",")), tcpEndpoint, dialEndpoint
}

// startHelper re-executes this test binary in role and waits for it to say it is ready.
func startHelper(b *testing.B, role, endpoint, env string) *process {
	b.Helper()
	pr := &process{name: role, endpoint: endpoint}
	pr.cmd = exec.Command(os.Args[0])
	pr.cmd.Env = append(os.Environ(), envRole+"="+role, env)
	stdout, err := pr.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	pr.cmd.Stderr = os.Stderr
	if err := pr.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("%s said %q", role, line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			pr.stop()
			b.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		pr.stop()
		b.Fatalf("%s not ready after 30 s", role)
	}
	return pr
}

// rss is the resident memory of a process, from /proc.
func rss(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
