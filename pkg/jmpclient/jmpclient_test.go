package jmpclient_test

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/util/wait"

	"jumpstarter.dev/service/pkg/clientconfig"
	"jumpstarter.dev/service/pkg/jmpclient"
	"jumpstarter.dev/service/pkg/jmpclient/jmpclienttest"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

func env(m map[string]string) jmpclient.Getenv {
	return func(k string) string { return m[k] }
}

// connect is a client of srv with waits short enough for tests.
func connect(t *testing.T, srv *jmpclienttest.Server) *jmpclient.Client {
	t.Helper()
	cfg, err := jmpclient.LoadConfig(srv.WriteConfig(t, t.TempDir()), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	c, err := jmpclient.Connect(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	c.Timing = jmpclient.Timing{
		Poll:            5 * time.Millisecond,
		NoExporterDelay: 5 * time.Millisecond,
		GetLeaseBackoff: wait.Backoff{Duration: 5 * time.Millisecond, Factor: 2, Cap: 20 * time.Millisecond, Steps: 100},
		DialBackoff:     wait.Backoff{Duration: 5 * time.Millisecond, Factor: 2, Cap: 20 * time.Millisecond, Steps: 100},
	}
	return c
}

func TestLoadConfig(t *testing.T) {
	home := t.TempDir()
	t.Setenv(clientconfig.EnvConfigHome, home)
	file := func(name string, leases *clientconfig.Leases, insecure bool) string {
		c := clientconfig.NewClientConfig("lab", name)
		c.Endpoint, c.Token, c.Leases, c.TLS.Insecure = "ctl:443", "t."+name, leases, insecure
		path, err := clientconfig.ClientConfigPath(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Save(path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	alice := file("alice", nil, false)
	bob := file("bob", &clientconfig.Leases{AcquisitionTimeout: 60, DialTimeout: 10, RetryTimeout: 0}, true)
	noEndpoint := filepath.Join(t.TempDir(), "x.yaml")
	c := clientconfig.NewClientConfig("lab", "x")
	if err := c.Save(noEndpoint); err != nil {
		t.Fatal(err)
	}
	fullEnv := map[string]string{jmpclient.EnvEndpoint: "env:1", jmpclient.EnvToken: "t.env", jmpclient.EnvNamespace: "ns", jmpclient.EnvName: "carol"}

	tests := []struct {
		name    string
		path    string
		env     map[string]string
		current string // current-client of the user config; "" writes none
		check   func(t *testing.T, c *jmpclient.Config)
		wantErr string
	}{
		{
			name: "explicit file, defaults", path: alice,
			check: func(t *testing.T, c *jmpclient.Config) {
				if c.Path != alice || c.Token != "t.alice" || c.Insecure || c.AcquisitionTimeout != 2*time.Hour || c.DialTimeout != time.Minute || c.RetryTimeout != 5*time.Minute {
					t.Errorf("%+v", c)
				}
			},
		},
		{
			name: "the file wins over the environment, timeouts and insecure from the environment", path: alice,
			env: map[string]string{jmpclient.EnvEndpoint: "other:1", jmpclient.EnvDialTimeout: "7.5", jmpclient.EnvRetryTimeout: "0", jmpclient.EnvGRPCInsecureLegacy: "1", jmpclient.EnvLease: "l1"},
			check: func(t *testing.T, c *jmpclient.Config) {
				if c.Endpoint != "ctl:443" || c.DialTimeout != 7500*time.Millisecond || c.RetryTimeout != 0 || !c.Insecure || c.Lease != "l1" {
					t.Errorf("%+v", c)
				}
			},
		},
		{
			name: "file lease timeouts and tls.insecure", path: bob,
			check: func(t *testing.T, c *jmpclient.Config) {
				if c.AcquisitionTimeout != time.Minute || c.DialTimeout != 10*time.Second || c.RetryTimeout != 0 || !c.Insecure {
					t.Errorf("%+v", c)
				}
			},
		},
		{
			name: "current client", current: "bob",
			check: func(t *testing.T, c *jmpclient.Config) {
				if c.Path != bob || c.Metadata.Name != "bob" {
					t.Errorf("%+v", c)
				}
			},
		},
		{
			name: "environment before the current client", current: "bob", env: fullEnv,
			check: func(t *testing.T, c *jmpclient.Config) {
				if c.Path != "" || c.Endpoint != "env:1" || c.Token != "t.env" || c.Metadata.Namespace != "ns" || c.Metadata.Name != "carol" {
					t.Errorf("%+v", c)
				}
			},
		},
		{
			name: "environment fills an empty endpoint", path: noEndpoint, env: map[string]string{jmpclient.EnvEndpoint: "e:1", jmpclient.EnvToken: "tok"},
			check: func(t *testing.T, c *jmpclient.Config) {
				if c.Endpoint != "e:1" || c.Token != "tok" {
					t.Errorf("%+v", c)
				}
			},
		},
		{name: "no endpoint", path: noEndpoint, wantErr: "endpoint: required (or set $JMP_ENDPOINT)"},
		{name: "nothing at all", wantErr: "no client config: pass --config FILE"},
		{name: "current client not set", current: "-", wantErr: "config.current-client is not set"},
		{name: "current client without a file", current: "dave", wantErr: "dave.yaml"},
		{name: "missing file", path: filepath.Join(home, "nope.yaml"), wantErr: "nope.yaml: no such file"},
		{name: "bad timeout", path: alice, env: map[string]string{jmpclient.EnvDialTimeout: "soon"}, wantErr: `$JMP_DIAL_TIMEOUT: "soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			userPath, _ := clientconfig.UserConfigPath()
			_ = os.Remove(userPath)
			if tt.current != "" {
				content := "apiVersion: jumpstarter.dev/v1alpha1\nkind: UserConfig\nconfig:\n  current-client: " + tt.current + "\n"
				if tt.current == "-" {
					content = "apiVersion: jumpstarter.dev/v1alpha1\nkind: UserConfig\nconfig:\n  current-client: null\n"
				}
				if err := os.WriteFile(userPath, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := jmpclient.LoadConfig(tt.path, env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestDialOptions(t *testing.T) {
	tests := []struct {
		opts    map[string]any
		wantErr string
	}{
		{opts: nil},
		{opts: map[string]any{"grpc.keepalive_time_ms": 30000, "grpc.keepalive_timeout_ms": "5000", "grpc.lb_policy_name": "pick_first", "grpc.other": "x"}},
		{opts: map[string]any{"grpc.keepalive_time_ms": "soon"}, wantErr: "grpcOptions.grpc.keepalive_time_ms"},
		{opts: map[string]any{"grpc.lb_policy_name": 1}, wantErr: "grpcOptions.grpc.lb_policy_name"},
	}
	for _, tt := range tests {
		_, err := jmpclient.DialOptions(nil, tt.opts)
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("DialOptions(%v) = %v, want error %q", tt.opts, err, tt.wantErr)
		}
	}
}

func TestTLS(t *testing.T) {
	srv := jmpclienttest.NewServer(t)
	srv.AddExporter("e1", true, nil)
	tests := []struct {
		name     string
		edit     func(c *clientconfig.ClientConfig)
		env      map[string]string
		wantCode codes.Code
	}{
		{name: "tls.ca", edit: func(*clientconfig.ClientConfig) {}},
		{name: "system roots do not know the test CA", edit: func(c *clientconfig.ClientConfig) { c.TLS.CA = "" }, wantCode: codes.Unavailable},
		{name: "insecure trusts the presented chain", edit: func(c *clientconfig.ClientConfig) { c.TLS.CA = "" }, env: map[string]string{jmpclient.EnvGRPCInsecure: "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := srv.ClientConfig()
			tt.edit(cc)
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := cc.Save(path); err != nil {
				t.Fatal(err)
			}
			cfg, err := jmpclient.LoadConfig(path, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			c, err := jmpclient.Connect(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			_, err = c.GetExporter(ctx, "e1")
			if got := status.Code(errors.Unwrap(err)); got != tt.wantCode && !(tt.wantCode == codes.OK && err == nil) {
				t.Errorf("GetExporter: %v, want code %v", err, tt.wantCode)
			}
		})
	}
	// Insecure mode pins the presented chain but still checks the name dialed.
	for _, tt := range []struct {
		serverName string
		ok         bool
	}{{"127.0.0.1", true}, {"localhost", true}, {"wrong.example", false}} {
		cfg, err := jmpclient.TLSConfig(clientconfig.TLS{}, true)
		if err != nil {
			t.Fatal(err)
		}
		cfg.ServerName = tt.serverName
		conn, err := tls.Dial("tcp", srv.Endpoint, cfg)
		if err == nil {
			_ = conn.Close()
		}
		if (err == nil) != tt.ok {
			t.Errorf("insecure handshake as %s: %v, want ok=%v", tt.serverName, err, tt.ok)
		}
	}
	if _, err := jmpclient.TLSConfig(clientconfig.TLS{CA: clientconfig.EncodeCA([]byte("not pem"))}, false); err == nil {
		t.Error("a CA bundle without certificates: no error")
	}
}

func TestCredentialsAreChecked(t *testing.T) {
	srv := jmpclienttest.NewServer(t)
	cc := srv.ClientConfig()
	cc.Token = "wrong"
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := cc.Save(path); err != nil {
		t.Fatal(err)
	}
	cfg, _ := jmpclient.LoadConfig(path, env(nil))
	c, _ := jmpclient.Connect(cfg)
	defer c.Close()
	if _, err := c.ListLeases(t.Context(), jmpclient.LeaseFilter{}); status.Code(errors.Unwrap(err)) != codes.Unauthenticated {
		t.Errorf("wrong token: %v, want UNAUTHENTICATED", err)
	}
}

func TestEvaluate(t *testing.T) {
	cond := jmpclienttest.Cond
	tests := []struct {
		name       string
		conditions []*jumpstarterv1.Condition
		want       jmpclient.State
	}{
		{name: "no conditions", want: jmpclient.StateWaiting},
		{name: "pending", conditions: []*jumpstarterv1.Condition{cond("Pending", "True", "NotAvailable", "busy")}, want: jmpclient.StateWaiting},
		{name: "ready after pending", conditions: []*jumpstarterv1.Condition{cond("Pending", "True", "NotAvailable", ""), cond("Ready", "True", "Ready", "")}, want: jmpclient.StateReady},
		{name: "unsatisfiable", conditions: []*jumpstarterv1.Condition{cond("Unsatisfiable", "True", "NoAccess", "0 exporters matching")}, want: jmpclient.StateFailed},
		{name: "legacy NoExporter", conditions: []*jumpstarterv1.Condition{cond("Unsatisfiable", "True", "NoExporter", "")}, want: jmpclient.StateTransient},
		{name: "invalid", conditions: []*jumpstarterv1.Condition{cond("Invalid", "True", "InvalidSelector", "")}, want: jmpclient.StateFailed},
		{name: "pending false", conditions: []*jumpstarterv1.Condition{cond("Pending", "False", "X", "")}, want: jmpclient.StateFailed},
		{name: "released before success", conditions: []*jumpstarterv1.Condition{cond("Pending", "True", "NotAvailable", ""), cond("Ready", "False", "Released", "")}, want: jmpclient.StateFailed},
		{name: "unsatisfiable false is nothing", conditions: []*jumpstarterv1.Condition{cond("Unsatisfiable", "False", "", "")}, want: jmpclient.StateWaiting},
	}
	for _, tt := range tests {
		if got, _ := jmpclient.Evaluate(&clientv1.Lease{Conditions: tt.conditions}); got != tt.want {
			t.Errorf("%s: Evaluate = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAcquire(t *testing.T) {
	pending := jmpclienttest.Cond("Pending", "True", "NotAvailable", "all 1 matching exporters are leased")
	tests := []struct {
		name    string
		onGet   func(l *clientv1.Lease, poll int)
		timeout time.Duration
		// wantErr is a check of the error; nil wants success.
		wantErr      func(error) bool
		wantProgress string
		wantCreated  int
	}{
		{
			name: "ready on the third poll, pending message reported",
			onGet: func(l *clientv1.Lease, poll int) {
				switch poll {
				case 1:
					l.Conditions = []*jumpstarterv1.Condition{pending}
				case 3:
					jmpclienttest.Grant(l, "e1")
				}
			},
			wantProgress: "NotAvailable: all 1 matching exporters are leased", wantCreated: 1,
		},
		{
			name: "unsatisfiable",
			onGet: func(l *clientv1.Lease, poll int) {
				l.Conditions = []*jumpstarterv1.Condition{jmpclienttest.Cond("Unsatisfiable", "True", "NoAccess", "0 exporters matching")}
			},
			wantErr: func(err error) bool {
				var f *jmpclient.LeaseFailedError
				return errors.As(err, &f) && f.Reason == "NoAccess" && strings.Contains(err.Error(), "0 exporters matching")
			},
			wantCreated: 1,
		},
		{
			name:    "timeout while pending",
			onGet:   func(l *clientv1.Lease, poll int) { l.Conditions = []*jumpstarterv1.Condition{pending} },
			timeout: 50 * time.Millisecond,
			wantErr: func(err error) bool {
				var te *jmpclient.TimeoutError
				return errors.As(err, &te) && te.Op == "acquisition" && te.Timeout == 50*time.Millisecond && strings.Contains(te.Last, "NotAvailable")
			},
			wantProgress: "NotAvailable", wantCreated: 1,
		},
		{
			name: "legacy NoExporter: a new lease",
			onGet: func(l *clientv1.Lease, poll int) {
				if strings.HasSuffix(l.GetName(), "lease-1") {
					l.Conditions = []*jumpstarterv1.Condition{jmpclienttest.Cond("Unsatisfiable", "True", "NoExporter", "")}
					return
				}
				jmpclienttest.Grant(l, "e1")
			},
			wantCreated: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := jmpclienttest.NewServer(t)
			srv.OnGet = tt.onGet
			c := connect(t, srv)
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			var mu sync.Mutex
			var progress []string
			l, err := c.Acquire(t.Context(), jmpclient.LeaseRequest{Selector: "board=rpi4", Duration: time.Minute}, timeout, func(p jmpclient.Progress) {
				mu.Lock()
				defer mu.Unlock()
				progress = append(progress, p.Reason+": "+p.Message)
			})
			if tt.wantErr == nil && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != nil && !tt.wantErr(err) {
				t.Fatalf("error %v (%T) is not the one wanted", err, err)
			}
			if l == nil {
				t.Fatal("no lease returned")
			}
			if want := "namespaces/lab/leases/lease-" + string(rune('0'+tt.wantCreated)); l.GetName() != want {
				t.Errorf("lease %s, want %s", l.GetName(), want)
			}
			if !strings.Contains(strings.Join(progress, "\n"), tt.wantProgress) {
				t.Errorf("progress %q, want %q", progress, tt.wantProgress)
			}
		})
	}
}

func TestWaitReadyDefiniteErrors(t *testing.T) {
	srv := jmpclienttest.NewServer(t)
	c := connect(t, srv)
	_, err := c.WaitReady(t.Context(), "missing", time.Minute, nil)
	if status.Code(errors.Unwrap(err)) != codes.NotFound {
		t.Errorf("WaitReady of a missing lease: %v, want NOT_FOUND at once", err)
	}
	if _, err := c.WaitReady(t.Context(), "namespaces/other/leases/x", time.Minute, nil); err == nil || !strings.Contains(err.Error(), "not in the client's namespace lab") {
		t.Errorf("WaitReady of another namespace's lease: %v", err)
	}
}

func TestDial(t *testing.T) {
	notReady := status.Error(codes.FailedPrecondition, "exporter is not ready (status: Available)")
	unavailable := status.Error(codes.Unavailable, "exporter is not listening on lease l")
	tests := []struct {
		name    string
		answers []error // the n-th Dial's error; past the end, success
		timeout time.Duration
		wantErr func(error) bool
		// wantDials is the number of Dial calls; 0 skips the check.
		wantDials int
	}{
		{name: "retries not ready and unavailable", answers: []error{notReady, unavailable, notReady}, wantDials: 4},
		{name: "other failed precondition is not retried", answers: []error{status.Error(codes.FailedPrecondition, "exporter is offline")}, wantDials: 1,
			wantErr: func(err error) bool { var u *jmpclient.UnreachableError; return errors.As(err, &u) }},
		{name: "permission denied: transferred", answers: []error{status.Error(codes.Unknown, "permission denied")}, wantDials: 1,
			wantErr: func(err error) bool { return errors.Is(err, jmpclient.ErrLeaseTransferred) }},
		{name: "timeout", answers: []error{notReady, notReady, notReady, notReady, notReady, notReady, notReady, notReady, notReady, notReady, notReady, notReady, notReady, notReady, notReady, notReady, notReady, notReady, notReady, notReady}, timeout: 30 * time.Millisecond,
			wantErr: func(err error) bool {
				var te *jmpclient.TimeoutError
				return errors.As(err, &te) && te.Op == "dial" && strings.Contains(te.Last, "not ready")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := jmpclienttest.NewServer(t)
			srv.OnDial = func(lease string, n int) (*jumpstarterv1.DialResponse, error) {
				if lease != "l" {
					return nil, status.Errorf(codes.Unknown, "lease %q", lease)
				}
				if n <= len(tt.answers) {
					return nil, tt.answers[n-1]
				}
				return &jumpstarterv1.DialResponse{RouterEndpoint: "r:1", RouterToken: "tok"}, nil
			}
			c := connect(t, srv)
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			resp, err := c.Dial(t.Context(), "namespaces/lab/leases/l", timeout)
			if tt.wantErr == nil {
				if err != nil || resp.GetRouterToken() != "tok" {
					t.Fatalf("Dial = %v, %v", resp, err)
				}
			} else if !tt.wantErr(err) {
				t.Fatalf("error %v (%T) is not the one wanted", err, err)
			}
			if tt.wantDials != 0 && srv.Dials() != tt.wantDials {
				t.Errorf("%d Dials, want %d", srv.Dials(), tt.wantDials)
			}
		})
	}
}

// The back-off of Dial is the contract's: 0.3 s, doubling, capped at 2 s.
func TestDialBackoffSchedule(t *testing.T) {
	srv := jmpclienttest.NewServer(t)
	srv.OnDial = func(string, int) (*jumpstarterv1.DialResponse, error) {
		return nil, status.Error(codes.Unavailable, "not listening")
	}
	c := connect(t, srv)
	var slept []time.Duration
	c.Timing = jmpclient.Timing{Sleep: func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		if len(slept) == 6 {
			return context.Canceled
		}
		return nil
	}}
	if _, err := c.Dial(t.Context(), "l", time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial: %v", err)
	}
	want := []time.Duration{300 * time.Millisecond, 600 * time.Millisecond, 1200 * time.Millisecond, 2 * time.Second, 2 * time.Second, 2 * time.Second}
	if len(slept) != len(want) {
		t.Fatalf("slept %v, want %v", slept, want)
	}
	for i := range want {
		if slept[i] != want[i] {
			t.Errorf("slept %v, want %v", slept, want)
			break
		}
	}
}

func TestLeaseCalls(t *testing.T) {
	srv := jmpclienttest.NewServer(t)
	srv.PageSize = 2
	c := connect(t, srv)
	ctx := t.Context()
	var names []string
	for i := range 5 {
		l, err := c.CreateLease(ctx, jmpclient.LeaseRequest{Selector: "board=rpi4", Duration: time.Duration(i+1) * time.Minute, Tags: map[string]string{"ci": "yes"}})
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, l.GetName())
	}
	srv.AddLease(&clientv1.Lease{Name: "namespaces/lab/leases/bobs", Selector: "board=rpi4", Client: proto.String("namespaces/lab/clients/bob")})
	srv.AddLease(&clientv1.Lease{Name: "namespaces/lab/leases/other-board", Selector: "board=imx8", Client: proto.String("namespaces/lab/clients/alice")})
	if err := c.ReleaseLease(ctx, jmpclient.BareName(names[0])); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		filter jmpclient.LeaseFilter
		want   int
	}{
		{filter: jmpclient.LeaseFilter{}, want: 5},
		{filter: jmpclient.LeaseFilter{Ended: true}, want: 6},
		{filter: jmpclient.LeaseFilter{AllClients: true}, want: 6},
		{filter: jmpclient.LeaseFilter{Selector: "board=rpi4"}, want: 4},
	}
	for _, tt := range tests {
		got, err := c.ListLeases(ctx, tt.filter)
		if err != nil || len(got) != tt.want {
			t.Errorf("ListLeases(%+v) = %d leases, %v; want %d", tt.filter, len(got), err, tt.want)
		}
	}
	l, err := c.SetLeaseDuration(ctx, names[1], time.Hour)
	if err != nil || l.GetDuration().AsDuration() != time.Hour {
		t.Fatalf("SetLeaseDuration = %v, %v", l, err)
	}
	if u := srv.Updates(); len(u) != 1 || strings.Join(u[0].GetUpdateMask().GetPaths(), ",") != "duration" {
		t.Errorf("update requests %v", u)
	}
	if err := c.ReleaseLease(ctx, names[0]); status.Code(errors.Unwrap(err)) != codes.FailedPrecondition {
		t.Errorf("second release: %v", err)
	}
	for i := range 3 {
		srv.AddExporter("e"+string(rune('1'+i)), i != 1, map[string]string{"board": "rpi4"})
	}
	exps, err := c.ListExporters(ctx, "board=rpi4")
	if err != nil || len(exps) != 3 {
		t.Errorf("ListExporters = %d, %v", len(exps), err)
	}
	if _, err := c.LeaseName("namespaces/lab/exporters/x"); err == nil {
		t.Error("LeaseName of an exporter name: no error")
	}
}
