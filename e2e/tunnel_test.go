package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"jumpstarter.dev/service/pkg/drivers/shell"
	"jumpstarter.dev/service/pkg/drivers/tcp"
	"jumpstarter.dev/service/pkg/lab"
	"jumpstarter.dev/service/pkg/leaseapi"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
	"jumpstarter.dev/service/pkg/tunnel"
)

// TestTunnel uses leases end to end (issue 4 §4, §5): the Go exporter (bin/exporter) and the
// client CLI (bin/jmpctl) reach each other through the lab's router, over gRPC and QUIC. The
// first features run in parallel, each in its own namespace; killing the router would cut
// their tunnels, so that feature runs alone, last.
func TestTunnel(t *testing.T) {
	testenv.TestInParallel(t, tunnelShell(), tunnelForward(), tunnelTokenBoundToLease())
	testenv.Test(t, tunnelRouterKilled())
}

// allowAnyShell is a shell driver that runs any command in dir.
func allowAnyShell(dir string) map[string]any {
	return map[string]any{"type": "shell", "config": map[string]any{"allow_any": true, "cwd": dir}}
}

// shellCase is one `jmpctl shell -- CMD ARGS` and what it must give.
type shellCase struct {
	name, transport string
	args            []string
	stdout          string
	code            int
	stderr          string // a fragment standard error must contain
}

func tunnelShell() features.Feature {
	return features.New("jmpctl shell through the router").
		Assess("the Go exporter registers; shell -- CMD prints CMD's output and exits with its code over gRPC, QUIC and both bridged, and releases the lease", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			site := newTunnelSite(ctx, t, "tunnel-shell")
			// What the exporter's commands read in their working directory shows that they
			// ran on the exporter's side.
			work := t.TempDir()
			marker := "marker-" + rand.String(8) + "\n"
			if err := os.WriteFile(filepath.Join(work, "marker"), []byte(marker), 0o600); err != nil {
				t.Fatal(err)
			}
			// One exporter on each transport: a client on the other one makes the router
			// bridge gRPC and QUIC. The QUIC one runs only its configured methods, and is
			// configured with the upstream class path.
			exporters := []struct {
				name, transport string
				labels          map[string]string
				sh              map[string]any
				cases           []shellCase
			}{
				{name: "anything", transport: tunnel.TransportGRPC, labels: map[string]string{"tr": "grpc"}, sh: allowAnyShell(work),
					cases: []shellCase{
						{name: "grpc to grpc", transport: tunnel.TransportGRPC,
							args:   []string{"sh", "-c", `cat marker; printf '[%s]' "$@"; echo; echo oops >&2`, "sh", "a", "b c"},
							stdout: marker + "[a][b c]\n", code: 0, stderr: "oops\n"},
						{name: "quic to grpc, nonzero exit", transport: tunnel.TransportQUIC,
							args:   []string{"sh", "-c", "cat marker; echo failing; exit 7"},
							stdout: marker + "failing\n", code: 7},
					}},
				{name: "methods", transport: tunnel.TransportQUIC, labels: map[string]string{"tr": "quic"},
					sh: map[string]any{"type": shell.UpstreamType, "config": map[string]any{
						"cwd": work,
						"methods": map[string]any{
							"greet": `printf 'hello %s\n' "$1"`,
							"fail":  `echo "about to fail"; echo "to stderr" >&2; exit "$1"`,
						},
					}},
					cases: []shellCase{
						{name: "grpc to quic, a method", transport: tunnel.TransportGRPC,
							args: []string{"greet", "world"}, stdout: "hello world\n", code: 0},
						{name: "quic to quic, a method's exit code", transport: tunnel.TransportQUIC,
							args: []string{"fail", "42"}, stdout: "about to fail\n", code: 42, stderr: "to stderr\n"},
						{name: "a command the config does not allow", transport: tunnel.TransportGRPC,
							args: []string{"sh", "-c", "echo never"}, stdout: "", code: 1, stderr: `Method "sh" not found`},
					}},
			}
			for _, e := range exporters {
				site.startExporter(ctx, t, e.name, e.labels, e.transport, map[string]any{"sh": e.sh})
				wantDevices(ctx, t, site.ns, e.name, map[string]string{"sh": shell.Client})
			}
			// The exporters are leased one run after the other, each exporter's runs in parallel
			// with the other's.
			t.Run("runs", func(t *testing.T) {
				for _, e := range exporters {
					t.Run(e.name, func(t *testing.T) {
						t.Parallel()
						book := newLeaseBook(site.ns, e.labels)
						selector := labels.SelectorFromSet(e.labels).String()
						for _, c := range e.cases {
							args := append([]string{"shell", "--selector", selector, "--transport", c.transport, "--"}, c.args...)
							r := site.runClient(ctx, t, args...)
							t.Logf("%s: %s", c.name, r.took.Round(time.Millisecond))
							if r.stdout != c.stdout || r.code != c.code || !strings.Contains(r.stderr, c.stderr) {
								t.Errorf("%s: jmpctl %s: %s\nwant exit %d, stdout %q, stderr with %q", c.name, strings.Join(args, " "), r, c.code, c.stdout, c.stderr)
							}
							book.released(ctx, t, e.name)
						}
					})
				}
			})
			return ctx
		}).Feature()
}

func tunnelForward() features.Feature {
	return features.New("jmpctl forward through the router").
		Assess("forward carries an ssh-like conversation byte-exact, 1 MiB each way, over gRPC and QUIC", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			site := newTunnelSite(ctx, t, "tunnel-forward")
			sshd := startSSHServer(t)
			site.startExporter(ctx, t, "board", map[string]string{"board": "fwd"}, tunnel.TransportQUIC, map[string]any{
				"ssh": map[string]any{"type": "tcp", "config": map[string]any{"host": "127.0.0.1", "port": sshd.port()}},
			})
			wantDevices(ctx, t, site.ns, "board", map[string]string{"ssh": tcp.Client})

			r := site.runClient(ctx, t, "lease", "create", "--selector", "board=fwd", "--duration", "10m", "--wait", "-o", "name")
			lease := strings.TrimSuffix(r.stdout, "\n")
			if r.code != 0 || lease == "" || strings.ContainsAny(lease, "\n/ ") {
				t.Fatalf("lease create --wait -o name: %s\nwant exit 0 and the lease's name", r)
			}

			for _, transport := range []string{tunnel.TransportGRPC, tunnel.TransportQUIC} {
				ports, err := lab.FreePorts(1)
				if err != nil {
					t.Fatal(err)
				}
				addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
				fwd := site.startClient(t, "forward", "--lease", lease, "--driver", "ssh", "--transport", transport, addr)
				fwd.waitOutput(t, fwd.stderr, "Forwarding "+addr+" to driver ssh of lease "+lease, 30*time.Second)

				// Two connections at once, each with a tunnel of its own.
				start := time.Now()
				results := make(chan error, 2)
				for range 2 {
					go func() { results <- converse(addr, sshd.payload) }()
				}
				for range 2 {
					if err := <-results; err != nil {
						t.Errorf("forward over %s: %v", transport, err)
					}
					select {
					case err := <-sshd.errs:
						if err != nil {
							t.Errorf("forward over %s: %v", transport, err)
						}
					case <-time.After(10 * time.Second):
						t.Errorf("forward over %s: the ssh server did not finish a conversation", transport)
					}
				}
				t.Logf("forward over %s: 2 conversations of 1 MiB each way in %s", transport, time.Since(start).Round(time.Millisecond))

				// Interrupted, forward stops and says it went well (its help: "Runs until
				// interrupted, then exits 0").
				if err := fwd.cmd.Process.Signal(syscall.SIGINT); err != nil {
					t.Fatal(err)
				}
				if r := fwd.wait(t, 15*time.Second); r.code != 0 {
					t.Errorf("forward over %s after SIGINT: %s\nwant exit 0", transport, r)
				}
			}

			if r := site.runClient(ctx, t, "lease", "release", lease); r.code != 0 {
				t.Errorf("lease release %s: %s", lease, r)
			}
			newLeaseBook(site.ns, map[string]string{"board": "fwd"}).released(ctx, t, "board")
			return ctx
		}).Feature()
}

func tunnelTokenBoundToLease() features.Feature {
	return features.New("router tokens bound to their lease").
		Assess("a tunnel of a lease is cut when it is released, and its tokens are refused afterwards", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			// The exporter is played through the API here, so that the test holds both ends
			// of the tunnel and sees what the router alone does.
			ns := newNamespace(ctx, t, "tunnel-token")
			svc := labConn(t)
			alice := newAPIClient(ctx, t, ns, "alice")
			board := newAgent(t, svc, newAPIExporter(ctx, t, ns, "board", map[string]string{"board": "token"}))
			board.register(ctx)
			board.report(ctx, jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE, "Available")
			wantStatusMessage(t, board.openStatus(ctx), "", "", nil)
			waitNode(ctx, t, ns, "board", func(n *corev1.Node) bool { return nodeReady(n) == corev1.ConditionTrue })

			created, err := svc.Client.CreateLease(ctx, &clientv1.CreateLeaseRequest{Parent: leaseapi.FormatNamespace(ns), Lease: &clientv1.Lease{
				Selector: "board=token", Duration: durationpb.New(10 * time.Minute),
			}}, alice.Call())
			if err != nil {
				t.Fatalf("CreateLease: %v", err)
			}
			leaseID := bareName(t, created.GetName())
			acquire(ctx, t, svc, alice, created.GetName())
			board.nextStatus()
			listenCtx, stopListen := context.WithCancel(ctx)
			defer stopListen()
			if _, err := board.svc.Controller.Listen(listenCtx, &jumpstarterv1.ListenRequest{LeaseName: leaseID}, board.caller.Call()); err != nil {
				t.Fatalf("Listen: %v", err)
			}
			board.report(ctx, jumpstarterv1.ExporterStatus_EXPORTER_STATUS_LEASE_READY, "Ready")
			var tickets []*jumpstarterv1.DialResponse
			for i := range 2 {
				r := <-dialAsync(ctx, svc, alice, leaseID)
				if r.err != nil {
					t.Fatalf("Dial %d: %v", i, r.err)
				}
				if r.resp.GetRouterEndpoint() != shared.lab.RouterEndpoint() {
					t.Fatalf("Dial %d: router endpoint %q, want the lab's %q", i, r.resp.GetRouterEndpoint(), shared.lab.RouterEndpoint())
				}
				tickets = append(tickets, r.resp)
			}
			endpoint, used, unused := tickets[0].GetRouterEndpoint(), tickets[0].GetRouterToken(), tickets[1].GetRouterToken()
			tlsConfig := routerTLS(t)
			dial := func(transport, token string) (tunnel.Conn, error) {
				dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				defer cancel()
				return tunnel.Dial(dctx, transport, endpoint, token, tlsConfig)
			}

			// Both ends of one tunnel, the client's over gRPC and the exporter's over QUIC.
			clientEnd, err := dial(tunnel.TransportGRPC, used)
			if err != nil {
				t.Fatalf("client end: %v", err)
			}
			defer clientEnd.Close()
			exporterEnd, err := dial(tunnel.TransportQUIC, used)
			if err != nil {
				t.Fatalf("exporter end: %v", err)
			}
			defer exporterEnd.Close()
			exchange(t, clientEnd, exporterEnd, "ping")
			exchange(t, exporterEnd, clientEnd, "pong")
			cut := map[string]<-chan error{"client end (gRPC)": readErr(clientEnd), "exporter end (QUIC)": readErr(exporterEnd)}

			// Releasing the lease cuts the tunnel at both ends, with the reason.
			if _, err := svc.Client.DeleteLease(ctx, &clientv1.DeleteLeaseRequest{Name: created.GetName()}, alice.Call()); err != nil {
				t.Fatalf("DeleteLease: %v", err)
			}
			for end, errc := range cut {
				select {
				case err := <-errc:
					if !errors.Is(err, tunnel.ErrLeaseEnded) || !strings.Contains(err.Error(), ns+"/"+leaseID) {
						t.Errorf("%s after the release: %v, want %v naming lease %s/%s", end, err, tunnel.ErrLeaseEnded, ns, leaseID)
					}
				case <-time.After(20 * time.Second):
					t.Errorf("%s still open 20 s after the lease was released", end)
				}
			}

			// Once the lease has ended, its tokens are refused at once: the spent one and the
			// one never used, on either transport.
			released(ctx, t, svc, alice, created.GetName())
			for _, c := range []struct{ what, transport, token string }{
				{"the used token over gRPC", tunnel.TransportGRPC, used},
				{"the used token over QUIC", tunnel.TransportQUIC, used},
				{"an unused token over gRPC", tunnel.TransportGRPC, unused},
				{"an unused token over QUIC", tunnel.TransportQUIC, unused},
			} {
				start := time.Now()
				conn, err := dial(c.transport, c.token)
				if err == nil {
					conn.Close()
				}
				if !errors.Is(err, tunnel.ErrLeaseEnded) || !strings.Contains(err.Error(), "lease "+ns+"/"+leaseID+" has ended") {
					t.Errorf("%s after the release: %v, want %v: lease %s/%s has ended", c.what, err, tunnel.ErrLeaseEnded, ns, leaseID)
				}
				if took := time.Since(start); took > 5*time.Second {
					t.Errorf("%s: refused after %s, want at once", c.what, took)
				}
			}
			// A token that is not the router's is refused as such.
			if conn, err := dial(tunnel.TransportGRPC, unused+"x"); !errors.Is(err, tunnel.ErrUnauthenticated) {
				if conn != nil {
					conn.Close()
				}
				t.Errorf("a tampered token: %v, want %v", err, tunnel.ErrUnauthenticated)
			}
			return ctx
		}).Feature()
}

// exchange writes msg on one end of a tunnel and reads it on the other.
func exchange(t *testing.T, from, to tunnel.Conn, msg string) {
	t.Helper()
	_ = to.SetReadDeadline(time.Now().Add(15 * time.Second))
	defer to.SetReadDeadline(time.Time{})
	if _, err := io.WriteString(from, msg); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(to, got); err != nil || string(got) != msg {
		t.Fatalf("read %q, %v; want %q", got, err, msg)
	}
}

// readErr reads c in the background until it fails, and returns why.
func readErr(c tunnel.Conn) <-chan error {
	out := make(chan error, 1)
	go func() {
		buf := make([]byte, 1024)
		for {
			if _, err := c.Read(buf); err != nil {
				out <- err
				return
			}
		}
	}()
	return out
}

func tunnelRouterKilled() features.Feature {
	return features.New("router killed mid-stream").
		Assess("the clients of a killed router get a clear error, not a hang; once the router is back new shells work", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			site := newTunnelSite(ctx, t, "tunnel-kill")
			type end struct {
				exporter, transport string
				labels              map[string]string
				process             *exporterProcess
				shell               *clientProcess
				book                *leaseBook
				// within is how soon the client must give up: gRPC hears the TCP reset at
				// once; QUIC has no reset and waits for its idle timeout (15 s) after its next
				// keepalive (at most 7.5 s later).
				within time.Duration
			}
			ends := []*end{
				{exporter: "over-grpc", transport: tunnel.TransportGRPC, labels: map[string]string{"board": "kill-grpc"}, within: 5 * time.Second},
				{exporter: "over-quic", transport: tunnel.TransportQUIC, labels: map[string]string{"board": "kill-quic"}, within: 30 * time.Second},
			}
			for _, e := range ends {
				e.process = site.startExporter(ctx, t, e.exporter, e.labels, e.transport, map[string]any{"sh": allowAnyShell(t.TempDir())})
				e.book = newLeaseBook(site.ns, e.labels)
			}
			for _, e := range ends {
				e.shell = site.startClient(t, "shell", "--selector", labels.SelectorFromSet(e.labels).String(), "--transport", e.transport,
					"--", "sh", "-c", "echo started; exec sleep 300")
			}
			for _, e := range ends {
				e.shell.waitOutput(t, e.shell.stdout, "started\n", 45*time.Second)
			}

			t.Cleanup(func() {
				// Whatever happened, the router is back for the tests that follow.
				if !shared.lab.Running(lab.Router) {
					if err := shared.lab.StartComponent(context.WithoutCancel(ctx), lab.Router); err != nil {
						t.Errorf("restart router: %v", err)
					}
				}
			})
			killed := time.Now()
			if err := shared.lab.KillComponent(lab.Router); err != nil {
				t.Fatalf("kill router: %v", err)
			}
			for _, e := range ends {
				r := e.shell.wait(t, time.Until(killed.Add(e.within)))
				t.Logf("shell over %s ended %s after the router was killed: %s", e.transport, time.Since(killed).Round(time.Millisecond), r)
				if r.code != 1 || r.stdout != "started\n" || !strings.Contains(r.stderr, "run sh on lease") || !strings.Contains(r.stderr, "router unreachable") {
					t.Errorf("shell over %s whose router was killed: %s\nwant exit 1, only CMD's output on stdout, and an error naming the command and the router", e.transport, r)
				}
				e.book.released(ctx, t, e.exporter)
			}

			if err := shared.lab.StartComponent(ctx, lab.Router); err != nil {
				t.Fatalf("restart router: %v", err)
			}
			for _, e := range ends {
				if e.process.exited() {
					t.Fatalf("exporter %s exited when the router was killed: %v", e.exporter, e.process.cmd.ProcessState)
				}
			}
			// New shells, over the other transport each, in parallel.
			t.Run("after the restart", func(t *testing.T) {
				for i, e := range ends {
					t.Run(e.exporter, func(t *testing.T) {
						t.Parallel()
						transport := ends[1-i].transport
						r := site.runClient(ctx, t, "shell", "--selector", labels.SelectorFromSet(e.labels).String(), "--transport", transport, "--", "echo", "back")
						if r.code != 0 || r.stdout != "back\n" {
							t.Errorf("shell over %s to exporter %s after the router came back: %s\nwant exit 0 and back", transport, e.exporter, r)
						}
						e.book.released(ctx, t, e.exporter)
					})
				}
			})
			return ctx
		}).Feature()
}
