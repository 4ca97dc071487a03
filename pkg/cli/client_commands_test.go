package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"jumpstarter.dev/service/pkg/jmpclient"
	"jumpstarter.dev/service/pkg/jmpclient/jmpclienttest"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// scriptLeases makes the fake controller answer by selector:
//   - board=now: granted at once, on exporter e1;
//   - board=ready: Pending on the first poll, granted on the second;
//   - board=never: Unsatisfiable;
//   - board=slow: Pending for ever.
func scriptLeases(srv *jmpclienttest.Server) {
	pending := jmpclienttest.Cond("Pending", "True", "NotAvailable", "all 1 matching exporters are leased")
	srv.OnCreate = func(l *clientv1.Lease) {
		if l.GetSelector() == "board=now" {
			jmpclienttest.Grant(l, "e1")
		}
	}
	srv.OnGet = func(l *clientv1.Lease, poll int) {
		if len(l.GetConditions()) > 1 || (len(l.GetConditions()) == 1 && l.GetConditions()[0].GetType() != "Pending") {
			return // decided
		}
		switch l.GetSelector() {
		case "board=ready":
			if poll == 1 {
				l.Conditions = []*jumpstarterv1.Condition{pending}
			} else {
				jmpclienttest.Grant(l, "e1")
			}
		case "board=never":
			l.Conditions = []*jumpstarterv1.Condition{jmpclienttest.Cond("Unsatisfiable", "True", "NoAccess", "0 exporters matching board=never")}
		case "board=slow":
			l.Conditions = []*jumpstarterv1.Condition{pending}
		}
	}
}

type commandCase struct {
	name     string
	args     []string
	wantCode int
	// Substrings of standard output and standard error; wantOutExact compares all of it.
	wantOut, wantErr string
	wantOutExact     *string
	check            func(t *testing.T, out string)
}

func runCases(t *testing.T, ct *clientTest, tests []commandCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := ct.run(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errOut)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("stdout %q, want it to contain %q", out, tt.wantOut)
			}
			if tt.wantOutExact != nil && out != *tt.wantOutExact {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, *tt.wantOutExact)
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", errOut, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, out)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestLeaseCommands(t *testing.T) {
	ct := newClientTest(t)
	scriptLeases(ct.srv)
	// A granted lease with times, for the REMAINING column: 25 minutes left at testNow.
	ct.srv.AddLease(&clientv1.Lease{
		Name: "namespaces/lab/leases/timed", Selector: "board=rpi4", Client: proto.String("namespaces/lab/clients/alice"),
		Duration:           durationpb.New(30 * time.Minute),
		EffectiveBeginTime: timestamppb.New(testNow.Add(-5 * time.Minute)),
		Exporter:           proto.String("namespaces/lab/exporters/e9"),
		Conditions:         []*jumpstarterv1.Condition{jmpclienttest.Cond("Ready", "True", "Ready", "")},
		Tags:               map[string]string{"ci": "yes", "job": "42"},
	})
	ct.srv.AddLease(&clientv1.Lease{Name: "namespaces/lab/leases/bobs", Selector: "board=x", Client: proto.String("namespaces/lab/clients/bob")})

	runCases(t, ct, []commandCase{
		{name: "create without waiting, -o name", args: []string{"lease", "create", "-l", "board=slow", "-o", "name"}, wantOutExact: ptrTo("lease-1\n")},
		{name: "create and wait, progress on stderr", args: []string{"lease", "create", "-l", "board=ready", "--duration", "10m", "--tag", "ci=yes", "--wait"},
			wantOut: "lease-2   Ready   board=ready   e1", wantErr: "Waiting for lease lease-2 (0s): NotAvailable: all 1 matching exporters are leased\n"},
		{name: "create pinned to an exporter, json", args: []string{"lease", "create", "--exporter", "e7", "-o", "json"},
			check: func(t *testing.T, out string) {
				var v struct {
					Leases []struct{ Name, ExporterName, Duration, Client string }
				}
				if err := json.Unmarshal([]byte(out), &v); err != nil || len(v.Leases) != 1 {
					t.Fatalf("json %s: %v", out, err)
				}
				if l := v.Leases[0]; l.Name != "namespaces/lab/leases/lease-3" || l.ExporterName != "e7" || l.Duration != "1800s" || l.Client != "namespaces/lab/clients/alice" {
					t.Errorf("lease %+v", l)
				}
			}},
		{name: "unsatisfiable: exit 3, not released", args: []string{"lease", "create", "-l", "board=never", "--wait"},
			wantCode: ExitLeaseFailed, wantErr: "Error: lease lease-4 cannot be acquired: Unsatisfiable=True (NoAccess): 0 exporters matching board=never"},
		{name: "timeout: exit 4, released", args: []string{"lease", "create", "-l", "board=slow", "--wait", "--timeout", "30ms"},
			wantCode: ExitTimeout, wantErr: "Lease lease-5 released\nError: lease lease-5 acquisition timed out after 30ms: NotAvailable: all 1 matching"},
		{name: "no selector", args: []string{"lease", "create"}, wantCode: ExitUsage, wantErr: "--selector or --exporter: one is required"},
		{name: "bad tag", args: []string{"lease", "create", "-l", "a=b", "--tag", "x"}, wantCode: ExitUsage, wantErr: `--tag "x": want key=value`},
		{name: "bad duration", args: []string{"lease", "create", "-l", "a=b", "--duration", "soon"}, wantCode: ExitUsage, wantErr: `invalid argument "soon"`},
		{name: "list: own active leases", args: []string{"lease", "list"}, wantOutExact: ptrTo(
			"NAME      STATE     SELECTOR      EXPORTER         CLIENT   DURATION   REMAINING   TAGS\n" +
				"timed     Ready     board=rpi4    e9               alice    30m        25m         ci=yes,job=42\n" +
				"lease-1   Waiting   board=slow    <none>           alice    30m        <none>      <none>\n" +
				"lease-2   Ready     board=ready   e1               alice    10m        <none>      ci=yes\n" +
				"lease-3   Waiting   <none>        e7 (requested)   alice    30m        <none>      <none>\n")},
		{name: "get a pending lease", args: []string{"lease", "get", "lease-1"}, wantOut: "lease-1   Pending (NotAvailable)   board=slow"},
		{name: "list all clients, ended too, names", args: []string{"lease", "list", "--all", "--ended", "-o", "name"},
			wantOutExact: ptrTo("timed\nbobs\nlease-1\nlease-2\nlease-3\nlease-4\nlease-5\n")},
		{name: "list by selector, yaml", args: []string{"lease", "list", "-l", "board=rpi4", "-o", "yaml"},
			wantOut: "leases:\n- client: namespaces/lab/clients/alice\n  conditions:\n  - message: \"\"\n    reason: Ready\n    status: \"True\"\n    type: Ready\n  duration: 1800s\n"},
		{name: "list nothing", args: []string{"lease", "list", "-l", "board=none"}, wantErr: "No leases found."},
		{name: "get by id and by name", args: []string{"lease", "get", "lease-2", "namespaces/lab/leases/timed", "-o", "name"}, wantOutExact: ptrTo("lease-2\ntimed\n")},
		{name: "get missing", args: []string{"lease", "get", "nope"}, wantCode: ExitError, wantErr: `Error: get lease nope: rpc error: code = NotFound`},
		{name: "get in another namespace", args: []string{"lease", "get", "namespaces/other/leases/x"}, wantCode: ExitError, wantErr: "not in the client's namespace lab"},
		{name: "get unknown output", args: []string{"lease", "get", "lease-2", "-o", "wide"}, wantCode: ExitUsage, wantErr: `--output "wide": want one of json, yaml, name`},
		{name: "extend to a total", args: []string{"lease", "extend", "lease-2", "--duration", "1h", "-o", "yaml"}, wantOut: "duration: 3600s"},
		{name: "extend by", args: []string{"lease", "extend", "lease-2", "--by", "30m", "-o", "json"}, wantOut: `"duration": "5400s"`},
		{name: "extend needs one of the two", args: []string{"lease", "extend", "lease-2", "--by", "1m", "--duration", "1h"}, wantCode: ExitUsage, wantErr: "give exactly one"},
		{name: "release two", args: []string{"lease", "release", "lease-1", "lease-2"}, wantOut: "lease lease-1 released\nlease lease-2 released\n"},
		{name: "release again", args: []string{"lease", "release", "lease-1"}, wantCode: ExitError, wantErr: "has already been released"},
		{name: "release needs a name", args: []string{"lease", "release"}, wantCode: ExitUsage, wantErr: "requires at least 1 arg(s)"},
	})
	released := ct.srv.Released()
	for _, name := range []string{"lease-4"} {
		if slices.Contains(released, "namespaces/lab/leases/"+name) {
			t.Errorf("%s was released, though it had ended", name)
		}
	}
	if !slices.Contains(released, "namespaces/lab/leases/lease-5") {
		t.Errorf("the lease of the timed-out wait was not released: %v", released)
	}
}

func TestExportersList(t *testing.T) {
	ct := newClientTest(t)
	ct.srv.AddExporter("e1", true, map[string]string{"board": "rpi4", "site": "lab1"})
	ct.srv.AddExporter("e2", false, map[string]string{"board": "rpi4"})
	ct.srv.AddExporter("e3", true, map[string]string{"board": "imx8"})
	held := &clientv1.Lease{Name: "namespaces/lab/leases/l1", Selector: "board=rpi4", Client: proto.String("namespaces/lab/clients/bob")}
	jmpclienttest.Grant(held, "e1")
	ct.srv.AddLease(held)
	// An ended lease of e3 does not make it leased.
	old := &clientv1.Lease{Name: "namespaces/lab/leases/old", Selector: "board=imx8", Client: proto.String("namespaces/lab/clients/bob")}
	jmpclienttest.Grant(old, "e3")
	old.Conditions = append(old.Conditions, jmpclienttest.Cond("Ready", "False", "Expired", ""))
	ct.srv.AddLease(old)

	runCases(t, ct, []commandCase{
		{name: "table", args: []string{"exporters", "list"}, wantOutExact: ptrTo(
			"NAME   ONLINE   LEASED   STATUS      LABELS\n" +
				"e1     true     true     Available   board=rpi4,site=lab1\n" +
				"e2     false    false    Offline     board=rpi4\n" +
				"e3     true     false    Available   board=imx8\n")},
		{name: "selector, names", args: []string{"exporters", "list", "-l", "board=rpi4", "-o", "name"}, wantOutExact: ptrTo("e1\ne2\n")},
		{name: "json has leased and the lease", args: []string{"exporters", "list", "-o", "json"}, check: func(t *testing.T, out string) {
			var v struct {
				Exporters []struct {
					Name               string
					Online, Leased     bool
					Lease, LeaseClient string
					Labels             map[string]string
				}
			}
			if err := json.Unmarshal([]byte(out), &v); err != nil || len(v.Exporters) != 3 {
				t.Fatalf("json %s: %v", out, err)
			}
			e1, e2 := v.Exporters[0], v.Exporters[1]
			if !e1.Online || !e1.Leased || e1.Lease != "namespaces/lab/leases/l1" || e1.LeaseClient != "namespaces/lab/clients/bob" || e1.Labels["site"] != "lab1" {
				t.Errorf("e1 %+v", e1)
			}
			if e2.Online || e2.Leased || e2.Lease != "" {
				t.Errorf("e2 %+v", e2)
			}
		}},
		{name: "yaml", args: []string{"exporters", "list", "-l", "board=imx8", "-o", "yaml"}, wantOut: "exporters:\n- enabled: true\n  labels:\n    board: imx8\n  leased: false\n  name: namespaces/lab/exporters/e3\n  online: true\n  status: EXPORTER_STATUS_AVAILABLE\n"},
		{name: "none", args: []string{"exporters", "list", "-l", "board=none"}, wantErr: "No exporters found."},
		{name: "bad selector", args: []string{"exporters", "list", "-l", "a in"}, wantCode: ExitError, wantErr: "InvalidArgument"},
	})
}

func TestShell(t *testing.T) {
	tests := []struct {
		name string
		args []string
		// setup scripts the fakes.
		setup    func(ct *clientTest)
		wantCode int
		wantOut  string
		wantErr  string
		// wantReleased are the leases given back; wantTunnels the tunnels opened.
		wantReleased []string
		wantTunnels  []string
		wantCalls    []string
		wantEnd      int
	}{
		{
			name: "command output and success", args: []string{"shell", "-l", "board=ready", "--", "echo", "hi"},
			wantOut: "echo hi\n", wantErr: "Waiting for lease lease-1",
			wantReleased: []string{"lease-1"}, wantTunnels: []string{"grpc router.test:443 ticket-1"}, wantCalls: []string{"shell sh echo hi"}, wantEnd: 1,
		},
		{
			name: "exit code of the command, over quic, named driver", args: []string{"shell", "-l", "board=now", "--transport", "quic", "--driver", "bash", "--", "false"},
			setup: func(ct *clientTest) {
				ct.exporter.shell = func(_ context.Context, _ []string, _, stderr io.Writer) (int, error) {
					fmt.Fprintln(stderr, "it failed")
					return 7, nil
				}
			},
			wantCode: 7, wantErr: "it failed\nLease lease-1 released\n",
			wantReleased: []string{"lease-1"}, wantTunnels: []string{"quic router.test:443 ticket-1"}, wantCalls: []string{"shell bash false"}, wantEnd: 1,
		},
		{
			name: "dial retried while the exporter gets ready", args: []string{"shell", "-l", "board=now", "--", "true"},
			setup: func(ct *clientTest) {
				ct.srv.OnDial = func(_ string, n int) (*jumpstarterv1.DialResponse, error) {
					if n < 3 {
						return nil, status.Error(codes.FailedPrecondition, "exporter is not ready (status: Available)")
					}
					return &jumpstarterv1.DialResponse{RouterEndpoint: "r:1", RouterToken: "third"}, nil
				}
			},
			wantReleased: []string{"lease-1"}, wantTunnels: []string{"grpc r:1 third"}, wantCalls: []string{"shell sh true"}, wantEnd: 1,
		},
		{
			name: "unreachable exporter: released and leased again", args: []string{"shell", "-l", "board=now", "--", "true"},
			setup: func(ct *clientTest) {
				ct.srv.OnDial = func(lease string, n int) (*jumpstarterv1.DialResponse, error) {
					if lease == "lease-1" {
						return nil, status.Error(codes.FailedPrecondition, "exporter is offline")
					}
					return &jumpstarterv1.DialResponse{RouterEndpoint: "r:1", RouterToken: "t"}, nil
				}
			},
			wantErr:      "exporter of lease lease-1 unreachable",
			wantReleased: []string{"lease-1", "lease-2"}, wantTunnels: []string{"grpc r:1 t"}, wantCalls: []string{"shell sh true"}, wantEnd: 1,
		},
		{
			name: "unsatisfiable: exit 3, nothing dialed", args: []string{"shell", "-l", "board=never", "--", "true"},
			wantCode: ExitLeaseFailed, wantErr: "0 exporters matching board=never",
		},
		{
			name: "acquisition timeout: exit 4, released", args: []string{"shell", "-l", "board=slow", "--timeout", "30ms", "--", "true"},
			wantCode: ExitTimeout, wantErr: "acquisition timed out", wantReleased: []string{"lease-1"},
		},
		{
			name: "existing lease from the environment: neither ended nor released", args: []string{"shell", "--", "true"},
			setup: func(ct *clientTest) {
				l := &clientv1.Lease{Name: "namespaces/lab/leases/mine", Client: proto.String("namespaces/lab/clients/alice")}
				jmpclienttest.Grant(l, "e1")
				ct.srv.AddLease(l)
				ct.env[jmpclient.EnvLease] = "mine"
			},
			wantTunnels: []string{"grpc router.test:443 ticket-1"}, wantCalls: []string{"shell sh true"},
		},
		{
			name: "two shell drivers and no --driver", args: []string{"shell", "-l", "board=now", "--", "true"},
			setup:    func(ct *clientTest) { ct.exporter.drivers["shell"] = []string{"a", "b"} },
			wantCode: ExitError, wantErr: "Error: run true on lease lease-1: the exporter has 2 shell drivers, name one",
			wantReleased: []string{"lease-1"}, wantTunnels: []string{"grpc router.test:443 ticket-1"}, wantEnd: 1,
		},
		{
			name: "not wired: no lease taken", args: []string{"shell", "-l", "board=now", "--", "true"},
			setup:    func(ct *clientTest) { ct.noDeps = true },
			wantCode: ExitError, wantErr: "no tunnel or driver client wired in",
		},
		{name: "command without --", args: []string{"shell", "-l", "board=now", "ls"}, wantCode: ExitUsage, wantErr: "put the command after --"},
		{name: "bad transport", args: []string{"shell", "-l", "board=now", "--transport", "udp", "--", "ls"}, wantCode: ExitUsage, wantErr: `--transport "udp": want grpc or quic`},
		{name: "a lease and a selector", args: []string{"shell", "--lease", "x", "-l", "a=b", "--", "ls"}, wantCode: ExitUsage, wantErr: "--lease: not with --selector"},
		{name: "nothing to lease", args: []string{"shell", "--", "ls"}, wantCode: ExitUsage, wantErr: "--selector or --exporter: one is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := newClientTest(t)
			scriptLeases(ct.srv)
			if tt.setup != nil {
				tt.setup(ct)
			}
			code, out, errOut := ct.run(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errOut)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("stdout %q, want it to contain %q", out, tt.wantOut)
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", errOut, tt.wantErr)
			}
			var released []string
			for _, name := range ct.srv.Released() {
				released = append(released, jmpclient.BareName(name))
			}
			tunnels, calls, ends, open := ct.exporter.snapshot()
			if !slices.Equal(released, tt.wantReleased) {
				t.Errorf("released %v, want %v", released, tt.wantReleased)
			}
			if !slices.Equal(tunnels, tt.wantTunnels) {
				t.Errorf("tunnels %v, want %v", tunnels, tt.wantTunnels)
			}
			if !slices.Equal(calls, tt.wantCalls) {
				t.Errorf("driver calls %v, want %v", calls, tt.wantCalls)
			}
			if ends != tt.wantEnd || open != 0 {
				t.Errorf("%d EndSession calls, %d sessions left open; want %d and 0", ends, open, tt.wantEnd)
			}
		})
	}
}

// Ctrl-C while the command runs: the session is ended and the lease released all the same.
func TestShellInterrupted(t *testing.T) {
	ct := newClientTest(t)
	scriptLeases(ct.srv)
	ctx, cancel := context.WithCancel(t.Context())
	ct.exporter.shell = func(ctx context.Context, _ []string, _, _ io.Writer) (int, error) {
		cancel()
		<-ctx.Done()
		return 0, ctx.Err()
	}
	code, _, errOut := ct.runContext(ctx, "shell", "-l", "board=now", "--", "sleep", "100")
	if code != ExitInterrupted {
		t.Errorf("exit code %d, want %d; stderr: %s", code, ExitInterrupted, errOut)
	}
	if r := ct.srv.Released(); !slices.Equal(r, []string{"namespaces/lab/leases/lease-1"}) {
		t.Errorf("released %v", r)
	}
	if _, _, ends, open := ct.exporter.snapshot(); ends != 1 || open != 0 {
		t.Errorf("%d EndSession, %d open", ends, open)
	}
}

// Without a command: $SHELL runs here with the lease in its environment, and its exit code is
// jmpctl's.
func TestShellInteractive(t *testing.T) {
	ct := newClientTest(t)
	scriptLeases(ct.srv)
	ct.env["SHELL"] = "/bin/sh"
	ct.in = strings.NewReader(`echo "lease=$JMP_LEASE config=$JMPCTL_CONFIG"; test -S "$JUMPSTARTER_HOST" && echo socket; exit 5` + "\n")
	code, out, errOut := ct.run(t, "shell", "-l", "board=now")
	if code != 5 {
		t.Errorf("exit code %d, want 5; stderr: %s", code, errOut)
	}
	if want := "lease=lease-1 config=" + ct.config + "\nsocket\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	if !strings.Contains(errOut, "Lease lease-1: starting /bin/sh") || !strings.Contains(errOut, "Lease lease-1 released") {
		t.Errorf("stderr %q", errOut)
	}
	if r := ct.srv.Released(); len(r) != 1 {
		t.Errorf("released %v", r)
	}
}

func TestForward(t *testing.T) {
	ct := newClientTest(t)
	l := &clientv1.Lease{Name: "namespaces/lab/leases/mine", Client: proto.String("namespaces/lab/clients/alice")}
	jmpclienttest.Grant(l, "e1")
	ct.srv.AddLease(l)
	ct.srv.AddLease(&clientv1.Lease{Name: "namespaces/lab/leases/waiting", Client: proto.String("namespaces/lab/clients/alice")})

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int)
	go func() {
		done <- RunWith(ctx, []string{"--config", ct.config, "forward", "--lease", "mine", "--driver", "ssh", "127.0.0.1:0"},
			Streams{Out: &out, ErrOut: &errOut}, ct.options())
	}()
	addr := ""
	re := regexp.MustCompile(`Forwarding (\S+) to driver ssh of lease mine on exporter e1`)
	for deadline := time.Now().Add(5 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if m := re.FindStringSubmatch(errOut.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("no listening address; stderr: %s", errOut.String())
	}

	// Several connections at once, each through its own Dial, tunnel and session.
	const conns = 4
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			msg := []byte(fmt.Sprintf("hello from connection %d", i))
			if _, err := c.Write(msg); err != nil {
				errs <- err
				return
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
				errs <- fmt.Errorf("echo %q, %v; want %q", got, err, msg)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	cancel()
	if code := <-done; code != ExitOK {
		t.Errorf("exit code %d after the interrupt, want 0; stderr: %s", code, errOut.String())
	}
	tunnels, calls, _, open := ct.exporter.snapshot()
	if len(tunnels) != conns || ct.srv.Dials() != conns || len(calls) != conns || calls[0] != "connect ssh" || open != 0 {
		t.Errorf("tunnels %v, %d Dials, calls %v, %d sessions open; want %d each, all closed", tunnels, ct.srv.Dials(), calls, open, conns)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still listening after the interrupt")
	}

	runCases(t, ct, []commandCase{
		{name: "needs --driver", args: []string{"forward", "--lease", "mine", "127.0.0.1:0"}, wantCode: ExitUsage, wantErr: "--driver: required"},
		{name: "needs a lease", args: []string{"forward", "--driver", "ssh", "127.0.0.1:0"}, wantCode: ExitUsage, wantErr: "--lease: required (or set $JMP_LEASE)"},
		{name: "lease not granted", args: []string{"forward", "--lease", "waiting", "--driver", "ssh", "127.0.0.1:0"}, wantCode: ExitError, wantErr: "lease waiting is not ready: no condition yet"},
		{name: "bad address", args: []string{"forward", "--lease", "mine", "--driver", "ssh", "nowhere"}, wantCode: ExitError, wantErr: "listen on nowhere"},
		{name: "needs the address", args: []string{"forward", "--lease", "mine", "--driver", "ssh"}, wantCode: ExitUsage, wantErr: "accepts 1 arg(s), received 0"},
	})
}

func TestPower(t *testing.T) {
	ct := newClientTest(t)
	l := &clientv1.Lease{Name: "namespaces/lab/leases/mine", Client: proto.String("namespaces/lab/clients/alice")}
	jmpclienttest.Grant(l, "e1")
	ct.srv.AddLease(l)
	runCases(t, ct, []commandCase{
		{name: "on, the one power driver", args: []string{"power", "on", "--lease", "mine"}, wantErr: "power on: done (lease mine)"},
		{name: "cycle, named driver", args: []string{"power", "cycle", "--lease", "namespaces/lab/leases/mine", "--driver", "pdu"}, wantErr: "power cycle: done (lease mine)"},
		{name: "unknown action", args: []string{"power", "sideways", "--lease", "mine"}, wantCode: ExitUsage, wantErr: `invalid argument "sideways"`},
		{name: "no lease", args: []string{"power", "off"}, wantCode: ExitUsage, wantErr: "--lease: required"},
	})
	ct.env[jmpclient.EnvLease] = "mine"
	runCases(t, ct, []commandCase{{name: "lease from the environment", args: []string{"power", "off"}, wantErr: "power off: done"}})
	_, calls, ends, open := ct.exporter.snapshot()
	if want := []string{"power power on", "power pdu cycle", "power power off"}; !slices.Equal(calls, want) || ends != 0 || open != 0 {
		t.Errorf("calls %v, %d EndSession, %d open; want %v, 0, 0", calls, ends, open, want)
	}
	if len(ct.srv.Released()) != 0 {
		t.Errorf("power released %v", ct.srv.Released())
	}
}

func TestUsageAndConfig(t *testing.T) {
	ct := newClientTest(t)
	runCases(t, ct, []commandCase{
		{name: "unknown command", args: []string{"bogus"}, wantCode: ExitUsage, wantErr: `unknown command "bogus" for "jmpctl"`},
		{name: "unknown subcommand, suggestion", args: []string{"lease", "lis"}, wantCode: ExitUsage, wantErr: `unknown command "lis" for "jmpctl lease"; did you mean list?`},
		{name: "group alone is help", args: []string{"lease"}, wantOut: "Available Commands:"},
		{name: "unknown flag", args: []string{"lease", "list", "--bogus"}, wantCode: ExitUsage, wantErr: "unknown flag: --bogus"},
		{name: "help names the exit codes", args: []string{"shell", "--help"}, wantOut: "4    timed out waiting for the lease"},
		{name: "missing config", args: []string{"--config", "/nonexistent/c.yaml", "lease", "list"}, wantCode: ExitError, wantErr: "load client config: open /nonexistent/c.yaml"},
	})
	// $JMPCTL_CONFIG names the config when --config does not.
	var out, errOut syncBuffer
	ct.env[EnvConfig] = ct.config
	if code := RunWith(t.Context(), []string{"lease", "list", "-o", "json"}, Streams{Out: &out, ErrOut: &errOut}, ct.options()); code != 0 || out.String() != "{\n  \"leases\": []\n}\n" {
		t.Errorf("with $%s: %d, %q, %q", EnvConfig, code, out.String(), errOut.String())
	}
}

func TestExitCode(t *testing.T) {
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		ctx  context.Context
		err  error
		want int
	}{
		{ctx: t.Context(), err: nil, want: 0},
		{ctx: t.Context(), err: errors.New("x"), want: 1},
		{ctx: t.Context(), err: usageErrorf("x"), want: 2},
		{ctx: t.Context(), err: fmt.Errorf("w: %w", &jmpclient.LeaseFailedError{}), want: 3},
		{ctx: t.Context(), err: fmt.Errorf("w: %w", &jmpclient.TimeoutError{}), want: 4},
		{ctx: canceled, err: errors.New("rpc canceled"), want: 130},
		{ctx: canceled, err: ExitCodeError{Code: 9}, want: 9},
		{ctx: canceled, err: nil, want: 0},
	}
	for _, tt := range tests {
		if got := exitCode(tt.ctx, tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
