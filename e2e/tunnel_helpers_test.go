package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/e2e/support"
)

// clientTimeout bounds one foreground jmpctl client command: acquiring a lease, dialing the
// exporter and running a short command take a few seconds; a command still running after
// this long hangs.
const clientTimeout = 60 * time.Second

// tunnelSite is a feature's own namespace with the lab CA published and a client config
// file written by the admin CLI, as a user gets them.
type tunnelSite struct {
	ns, dir      string
	clientConfig string
}

func newTunnelSite(ctx context.Context, t *testing.T, prefix string) *tunnelSite {
	t.Helper()
	ns := newNamespace(ctx, t, prefix)
	if err := shared.lab.PublishCA(ctx, ns); err != nil {
		t.Fatal(err)
	}
	s := &tunnelSite{ns: ns, dir: t.TempDir()}
	s.clientConfig = filepath.Join(s.dir, "alice.yaml")
	jmpctl(ctx, t, "admin", "create", "client", "alice", "-n", ns, "--out", s.clientConfig)
	return s
}

// exporterProcess is a bin/exporter child process and what it logged.
type exporterProcess struct {
	name string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

// startExporter creates the exporter with the admin CLI, adds export (the driver tree) and
// the transport key ("" leaves the default) to the config file it writes, runs bin/exporter
// with it, and waits until the exporter is registered with its drivers, online and
// Available, and its node Ready. The process is stopped (SIGTERM) when the test ends, and
// its log shown if the test failed.
func (s *tunnelSite) startExporter(ctx context.Context, t *testing.T, name string, labels map[string]string, transport string, export map[string]any) *exporterProcess {
	t.Helper()
	file := filepath.Join(s.dir, name+".yaml")
	args := []string{"admin", "create", "exporter", name, "-n", s.ns, "--out", file}
	for k, v := range labels {
		args = append(args, "-l", k+"="+v)
	}
	jmpctl(ctx, t, args...)
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("exporter config %s: %v", file, err)
	}
	doc["export"] = export
	if transport != "" {
		doc["transport"] = transport
	}
	if raw, err = yaml.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	p := &exporterProcess{name: name, log: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binPath(t, "exporter"), "--config", file)
	p.cmd.Env = clientEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start exporter %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("log of exporter %s (transport %q):\n%s", name, transport, p.log.String())
		}
	})

	waitFor(ctx, t, "exporter "+name+" registered, online and available", func(ctx context.Context) (bool, error) {
		if p.exited() {
			return false, fmt.Errorf("exporter %s exited: %v", name, p.cmd.ProcessState)
		}
		e := &jumpstarterv1alpha1.Exporter{}
		if err := shared.client.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: name}, e); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(e.Status.Conditions, jumpstarterv1alpha1.ExporterConditionRegistered) &&
			meta.IsStatusConditionTrue(e.Status.Conditions, jumpstarterv1alpha1.ExporterConditionOnline) &&
			e.Status.ExporterStatusValue == jumpstarterv1alpha1.ExporterStatusAvailable, nil
	})
	waitNode(ctx, t, s.ns, name, func(n *corev1.Node) bool { return nodeReady(n) == corev1.ConditionTrue })
	return p
}

func (p *exporterProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits for the agent's shutdown (OFFLINE, Unregister: at most 10 s),
// then kills it.
func (p *exporterProcess) stop(t *testing.T) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Errorf("exporter %s did not stop within 15 s of SIGTERM", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// devices checks that the exporter reported each driver of export with its client class,
// under the root.
func wantDevices(ctx context.Context, t *testing.T, ns, name string, classes map[string]string) {
	t.Helper()
	e := getExporter(ctx, t, ns, name)
	found := map[string]string{}
	for _, d := range e.Status.Devices {
		if n := d.Labels["jumpstarter.dev/name"]; n != "" && d.ParentUuid != nil {
			found[n] = d.Labels["jumpstarter.dev/client"]
		}
	}
	for n, class := range classes {
		if found[n] != class {
			t.Errorf("exporter %s: device %q has client class %q, want %q (devices %+v)", name, n, found[n], class, e.Status.Devices)
		}
	}
}

// binPath is one of our binaries.
func binPath(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(os.Getenv(support.EnvBin), name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// clientEnv is the test's environment without the variables that would pick another config
// or lease for jmpctl or the exporter.
func clientEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "JMP_") || strings.HasPrefix(kv, "JMPCTL_") || strings.HasPrefix(kv, "JUMPSTARTER_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// result is how a jmpctl client command ended.
type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %s\nstdout: %q\nstderr:\n%s", r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// runClient runs `jmpctl --config FILE ARGS` to its end; it fails the test if it has not
// ended within clientTimeout.
func (s *tunnelSite) runClient(ctx context.Context, t *testing.T, args ...string) result {
	t.Helper()
	p := s.startClient(t, args...)
	return p.wait(t, clientTimeout)
}

// clientProcess is a jmpctl client command running in the background.
type clientProcess struct {
	args           []string
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	start          time.Time
	done           chan struct{}
}

func (s *tunnelSite) startClient(t *testing.T, args ...string) *clientProcess {
	t.Helper()
	p := &clientProcess{args: args, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binPath(t, "jmpctl"), append([]string{"--config", s.clientConfig}, args...)...)
	p.cmd.Env = clientEnv()
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start jmpctl %s: %v", strings.Join(args, " "), err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the command to end; not ending within timeout is a hang and fails the test.
func (p *clientProcess) wait(t *testing.T, timeout time.Duration) result {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(max(timeout, 0)):
		select {
		case <-p.done: // ended just in time
			return p.result()
		default:
		}
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("jmpctl %s hung: still running after %s\nstdout: %q\nstderr:\n%s", strings.Join(p.args, " "), timeout, p.stdout.String(), p.stderr.String())
	}
	return p.result()
}

func (p *clientProcess) result() result {
	return result{stdout: p.stdout.String(), stderr: p.stderr.String(), code: p.cmd.ProcessState.ExitCode(), took: time.Since(p.start)}
}

// waitOutput waits until the command's output (stdout or stderr) contains want, and fails
// if it ends or timeout passes first.
func (p *clientProcess) waitOutput(t *testing.T, out *syncBuffer, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(out.String(), want) {
		select {
		case <-p.done:
			if strings.Contains(out.String(), want) {
				return
			}
			t.Fatalf("jmpctl %s ended (%v) before printing %q\nstdout: %q\nstderr:\n%s", strings.Join(p.args, " "), p.cmd.ProcessState, want, p.stdout.String(), p.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("jmpctl %s did not print %q within %s\nstdout: %q\nstderr:\n%s", strings.Join(p.args, " "), want, timeout, p.stdout.String(), p.stderr.String())
		}
	}
}

// syncBuffer is a bytes.Buffer that a process writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// leaseBook follows the leases of a namespace whose selector matches an exporter's labels,
// as client commands take them, so that each run can be checked to have taken exactly one
// lease, of that exporter, and released it.
type leaseBook struct {
	ns     string
	labels labels.Set
	seen   map[string]bool
}

func newLeaseBook(ns string, exporterLabels map[string]string) *leaseBook {
	return &leaseBook{ns: ns, labels: exporterLabels, seen: map[string]bool{}}
}

// released checks that exactly one lease for the exporter appeared since the last call, was
// granted to exporter, and ends as Released; it returns its name.
func (b *leaseBook) released(ctx context.Context, t *testing.T, exporter string) string {
	t.Helper()
	list := &jumpstarterv1alpha1.LeaseList{}
	if err := shared.client.List(ctx, list, client.InNamespace(b.ns)); err != nil {
		t.Fatal(err)
	}
	var fresh []string
	for _, l := range list.Items {
		sel, err := metav1.LabelSelectorAsSelector(&l.Spec.Selector)
		if err != nil {
			t.Fatalf("lease %s: selector: %v", l.Name, err)
		}
		if !b.seen[l.Name] && sel.Matches(b.labels) {
			b.seen[l.Name] = true
			fresh = append(fresh, l.Name)
		}
	}
	if len(fresh) != 1 {
		t.Fatalf("the command took %d leases (%v), want 1", len(fresh), fresh)
	}
	l := waitLease(ctx, t, b.ns, fresh[0], func(l *jumpstarterv1alpha1.Lease) bool { return l.Status.Ended })
	if !support.HasCondition(jumpstarterv1alpha1.LeaseConditionReady, "False", jumpstarterv1alpha1.LeaseReasonReleased)(l) {
		t.Errorf("lease %s ended with conditions %+v, want Ready=False Released", l.Name, l.Status.Conditions)
	}
	if l.Status.ExporterRef == nil || l.Status.ExporterRef.Name != exporter {
		t.Errorf("lease %s went to exporter %v, want %s", l.Name, l.Status.ExporterRef, exporter)
	}
	return l.Name
}

// routerTLS trusts the lab CA only, as the peers do with their config's tls.ca.
func routerTLS(t *testing.T) *tls.Config {
	t.Helper()
	caPEM, err := os.ReadFile(shared.lab.CACertPath())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("the lab CA file holds no certificate")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// An ssh-like conversation: each side sends its banner line, then both send a payload at
// once, as ssh's key exchange and channel data do; the server answers with the SHA-256 of
// what it received, and both half-close.
const (
	conversationPayload = 1 << 20
	serverBanner        = "SSH-2.0-jumpstarter-e2e-server\r\n"
	clientBanner        = "SSH-2.0-jumpstarter-e2e-client\r\n"
)

// sshServer is the TCP service next to the exporter that a tcp driver points at.
type sshServer struct {
	ln      net.Listener
	payload []byte
	errs    chan error
}

func startSSHServer(t *testing.T) *sshServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sshServer{ln: ln, payload: randomBytes(t, conversationPayload), errs: make(chan error, 16)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { s.errs <- s.serve(conn) }()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return s
}

func (s *sshServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *sshServer) serve(conn net.Conn) error {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(conn, serverBanner); err != nil {
		return fmt.Errorf("server: send banner: %w", err)
	}
	r := bufio.NewReader(conn)
	if line, err := r.ReadString('\n'); err != nil || line != clientBanner {
		return fmt.Errorf("server: client banner %q, %v; want %q", line, err, clientBanner)
	}
	sent := make(chan error, 1)
	go func() { _, err := conn.Write(s.payload); sent <- err }()
	h := sha256.New()
	if _, err := io.CopyN(h, r, conversationPayload); err != nil {
		return fmt.Errorf("server: receive payload: %w", err)
	}
	if err := <-sent; err != nil {
		return fmt.Errorf("server: send payload: %w", err)
	}
	if _, err := conn.Write(h.Sum(nil)); err != nil {
		return fmt.Errorf("server: send digest: %w", err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		return fmt.Errorf("server: half-close: %w", err)
	}
	rest, err := io.ReadAll(r)
	if err != nil || len(rest) != 0 {
		return fmt.Errorf("server: after the payload: %d more bytes, %v; want a clean end of stream", len(rest), err)
	}
	return nil
}

// converse plays the client of the conversation on addr and checks every byte of both
// directions.
func converse(addr string, serverPayload []byte) error {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(conn)
	if line, err := r.ReadString('\n'); err != nil || line != serverBanner {
		return fmt.Errorf("client: server banner %q, %v; want %q", line, err, serverBanner)
	}
	if _, err := io.WriteString(conn, clientBanner); err != nil {
		return fmt.Errorf("client: send banner: %w", err)
	}
	payload := make([]byte, conversationPayload)
	if _, err := rand.Read(payload); err != nil {
		return err
	}
	sent := make(chan error, 1)
	go func() { _, err := conn.Write(payload); sent <- err }()
	got := make([]byte, conversationPayload+sha256.Size)
	if n, err := io.ReadFull(r, got); err != nil {
		return fmt.Errorf("client: received %d of %d bytes: %w", n, len(got), err)
	}
	if err := <-sent; err != nil {
		return fmt.Errorf("client: send payload: %w", err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		return fmt.Errorf("client: half-close: %w", err)
	}
	rest, err := io.ReadAll(r)
	if err != nil || len(rest) != 0 {
		return fmt.Errorf("client: after the digest: %d more bytes, %v; want a clean end of stream", len(rest), err)
	}
	var errs []error
	if want, have := sha256.Sum256(serverPayload), sha256.Sum256(got[:conversationPayload]); want != have {
		errs = append(errs, fmt.Errorf("server->client: SHA-256 %x, sent %x", have, want))
	}
	if want := sha256.Sum256(payload); !bytes.Equal(got[conversationPayload:], want[:]) {
		errs = append(errs, fmt.Errorf("client->server: the server received SHA-256 %x, sent %x", got[conversationPayload:], want))
	}
	return errors.Join(errs...)
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
