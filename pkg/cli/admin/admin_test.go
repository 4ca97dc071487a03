package admin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/token"
	"jumpstarter.dev/service/pkg/clientconfig"
	"jumpstarter.dev/service/pkg/credentials"
	"jumpstarter.dev/service/pkg/lab"
)

const (
	namespace = "lab"
	endpoint  = "127.0.0.1:8082"
)

// harness is a fake cluster with a simulated controller: the real credential reconcilers,
// run over every Client and Exporter in a loop, as the controller's would on each change.
type harness struct {
	t      *testing.T
	ctx    context.Context
	client client.Client
	admin  *Admin
	caPEM  []byte
	// controllerDown stops the simulated controller.
	controllerDown atomic.Bool
}

type options struct {
	noController bool
	endpoint     string
	noCA         bool
}

func newHarness(t *testing.T, o options) *harness {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := jumpstarterv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	ca, err := lab.NewCA("admin-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	var objs []client.Object
	if !o.noCA {
		objs = append(objs, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: clientconfig.CAConfigMapName},
			Data:       map[string]string{clientconfig.CAConfigMapKey: string(ca.CertPEM)},
		})
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&jumpstarterv1alpha1.Client{}, &jumpstarterv1alpha1.Exporter{}).
		WithInterceptorFuncs(interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			// The fake client gives objects no UID; tokens need one.
			if obj.GetUID() == "" {
				obj.SetUID(uuid.NewUUID())
			}
			return c.Create(ctx, obj, opts...)
		}}).Build()
	h := &harness{t: t, ctx: t.Context(), client: c, caPEM: ca.CertPEM,
		admin: &Admin{Client: c, Timeout: 5 * time.Second, PollInterval: 5 * time.Millisecond}}
	t.Setenv(clientconfig.EnvConfigHome, t.TempDir())
	if !o.noController {
		ep := endpoint
		if o.endpoint != "" {
			ep = o.endpoint
		}
		if o.endpoint == "none" {
			ep = ""
		}
		h.runController(ep)
	}
	return h
}

func (h *harness) runController(endpoint string) {
	key, err := token.GenerateKey()
	if err != nil {
		h.t.Fatal(err)
	}
	issuer, err := token.NewIssuer(key, "", 0, clock.RealClock{})
	if err != nil {
		h.t.Fatal(err)
	}
	verifier, err := token.NewVerifier(&key.PublicKey, "", clock.RealClock{})
	if err != nil {
		h.t.Fatal(err)
	}
	store := &credentials.Store{Client: h.client, Issuer: issuer, Verifier: verifier, Clock: clock.RealClock{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	h.t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
			if h.controllerDown.Load() {
				continue
			}
			for _, kind := range []token.Kind{token.KindClient, token.KindExporter} {
				r := &credentials.Reconciler{Kind: kind, Store: store, Endpoint: endpoint}
				var list client.ObjectList = &jumpstarterv1alpha1.ClientList{}
				if kind == token.KindExporter {
					list = &jumpstarterv1alpha1.ExporterList{}
				}
				if err := h.client.List(ctx, list); err != nil {
					continue
				}
				switch l := list.(type) {
				case *jumpstarterv1alpha1.ClientList:
					for _, o := range l.Items {
						_, _ = r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&o)})
					}
				case *jumpstarterv1alpha1.ExporterList:
					for _, o := range l.Items {
						_, _ = r.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&o)})
					}
				}
			}
		}
	}()
}

func (h *harness) secretToken(kind token.Kind, name string) string {
	h.t.Helper()
	s := &corev1.Secret{}
	if err := h.client.Get(h.ctx, types.NamespacedName{Namespace: namespace, Name: credentials.SecretName(kind, name)}, s); err != nil {
		h.t.Fatal(err)
	}
	return string(s.Data[credentials.KeyToken])
}

func checkMode(t *testing.T, path string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", path, info.Mode().Perm())
	}
}

func TestCreateClient(t *testing.T) {
	h := newHarness(t, options{})
	out := filepath.Join(t.TempDir(), "alice.yaml")
	res, err := h.admin.Create(h.ctx, CreateOptions{
		Kind: token.KindClient, Namespace: namespace, Name: "alice",
		Labels:       map[string]string{"team": "qa"},
		OIDCUsername: "oidc:alice@example.com",
		Config:       ConfigOptions{Out: out, Allow: []string{"jumpstarter_driver_power", "jumpstarter_driver_network"}, Unsafe: true, InsecureTLS: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != out || res.SelectedAsDefault {
		t.Errorf("result %+v, want path %s and no default selection (--out given)", res, out)
	}
	checkMode(t, out)
	cfg, err := clientconfig.LoadClientConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metadata != (clientconfig.ObjectMeta{Namespace: namespace, Name: "alice"}) || cfg.Endpoint != endpoint {
		t.Errorf("config metadata %+v endpoint %q", cfg.Metadata, cfg.Endpoint)
	}
	if cfg.Token == "" || cfg.Token != h.secretToken(token.KindClient, "alice") {
		t.Errorf("config token %q is not the stored token", cfg.Token)
	}
	if ca, _ := cfg.TLS.CABundle(); !bytes.Equal(ca, h.caPEM) || !cfg.TLS.Insecure {
		t.Errorf("tls %+v: want the namespace's CA and insecure", cfg.TLS)
	}
	if got := strings.Join(cfg.Drivers.Allow, ","); got != "jumpstarter_driver_power,jumpstarter_driver_network" || !cfg.Drivers.Unsafe {
		t.Errorf("drivers %+v", cfg.Drivers)
	}
	c := &jumpstarterv1alpha1.Client{}
	if err := h.client.Get(h.ctx, types.NamespacedName{Namespace: namespace, Name: "alice"}, c); err != nil {
		t.Fatal(err)
	}
	if c.Labels["team"] != "qa" || c.Spec.Username == nil || *c.Spec.Username != "oidc:alice@example.com" {
		t.Errorf("client %+v: labels or username missing", c.ObjectMeta)
	}

	_, err = h.admin.Create(h.ctx, CreateOptions{Kind: token.KindClient, Namespace: namespace, Name: "alice", Config: ConfigOptions{Out: out}})
	if err == nil || !strings.Contains(err.Error(), "client lab/alice: it already exists") || !apierrors.IsAlreadyExists(err) {
		t.Errorf("second create: %v (want an AlreadyExists error that says so)", err)
	}
}

func TestCreateClientDefaultPathSelectsIt(t *testing.T) {
	h := newHarness(t, options{noCA: true})
	res, err := h.admin.Create(h.ctx, CreateOptions{Kind: token.KindClient, Namespace: namespace, Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := clientconfig.ClientConfigPath("alice")
	if res.Path != want || !res.SelectedAsDefault {
		t.Errorf("result %+v, want path %s selected as default", res, want)
	}
	cfg, err := clientconfig.LoadClientConfig(want)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS.CA != "" {
		t.Errorf("tls.ca %q without a CA ConfigMap, want empty", cfg.TLS.CA)
	}
	userPath, _ := clientconfig.UserConfigPath()
	data, err := os.ReadFile(userPath)
	if err != nil || !strings.Contains(string(data), "current-client: alice") {
		t.Errorf("user config %q, %v", data, err)
	}
}

func TestCreateExporter(t *testing.T) {
	h := newHarness(t, options{})
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	other, err := lab.NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, other.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := h.admin.Create(h.ctx, CreateOptions{
		Kind: token.KindExporter, Namespace: namespace, Name: "board1",
		Labels: map[string]string{"board": "rpi4"},
		Config: ConfigOptions{CAFile: caFile},
	})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := clientconfig.ExporterConfigPath("board1")
	if res.Path != want || res.SelectedAsDefault {
		t.Errorf("result %+v, want %s", res, want)
	}
	checkMode(t, want)
	cfg, err := clientconfig.LoadExporterConfig(want)
	if err != nil {
		t.Fatal(err)
	}
	if ca, _ := cfg.TLS.CABundle(); !bytes.Equal(ca, other.CertPEM) {
		t.Error("tls.ca is not the --ca-file bundle")
	}
	if cfg.Token != h.secretToken(token.KindExporter, "board1") || cfg.Endpoint != endpoint || len(cfg.Export) != 0 {
		t.Errorf("config %+v", cfg)
	}
	e := &jumpstarterv1alpha1.Exporter{}
	if err := h.client.Get(h.ctx, types.NamespacedName{Namespace: namespace, Name: "board1"}, e); err != nil || e.Labels["board"] != "rpi4" {
		t.Errorf("exporter labels %v, %v", e.Labels, err)
	}
}

func TestCreateToStdout(t *testing.T) {
	h := newHarness(t, options{})
	var buf bytes.Buffer
	res, err := h.admin.Create(h.ctx, CreateOptions{Kind: token.KindClient, Namespace: namespace, Name: "ci", Config: ConfigOptions{Out: Stdout, Stdout: &buf}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != "" {
		t.Errorf("path %q, want none", res.Path)
	}
	cfg, err := clientconfig.ParseClientConfig(buf.Bytes())
	if err != nil || cfg.Metadata.Name != "ci" {
		t.Errorf("stdout config %+v, %v", cfg, err)
	}
}

func TestCreateErrors(t *testing.T) {
	badCA := filepath.Join(t.TempDir(), "bad.crt")
	if err := os.WriteFile(badCA, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		harness options
		opts    CreateOptions
		want    string
		// created: the object exists afterwards.
		created bool
	}{
		{
			name: "exporter without labels",
			opts: CreateOptions{Kind: token.KindExporter, Namespace: namespace, Name: "b"},
			want: "create exporter lab/b: at least one --label is required",
		},
		{
			name: "exporter with client settings",
			opts: CreateOptions{Kind: token.KindExporter, Namespace: namespace, Name: "b", Labels: map[string]string{"a": "b"}, Config: ConfigOptions{Unsafe: true}},
			want: "--allow and --unsafe are client settings",
		},
		{
			name: "bad CA file",
			opts: CreateOptions{Kind: token.KindClient, Namespace: namespace, Name: "c", Config: ConfigOptions{CAFile: badCA}},
			want: "create client lab/c: --ca-file " + badCA + ": no PEM certificate found",
		},
		{
			name:    "no controller",
			harness: options{noController: true},
			opts:    CreateOptions{Kind: token.KindClient, Namespace: namespace, Name: "c"},
			want:    "create client lab/c: the object was created, but the controller did not issue its credential within 300ms: status.credential is not set (is the controller running?)",
			created: true,
		},
		{
			name:    "controller without endpoint",
			harness: options{endpoint: "none"},
			opts:    CreateOptions{Kind: token.KindClient, Namespace: namespace, Name: "c"},
			want:    "status.endpoint is not set (is the controller running with --grpc-endpoint?)",
			created: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.harness)
			h.admin.Timeout = 300 * time.Millisecond
			_, err := h.admin.Create(h.ctx, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Create: %v, want an error containing %q", err, tt.want)
			}
			obj, _ := newObject(tt.opts.Kind, tt.opts.Namespace, tt.opts.Name)
			exists := h.client.Get(h.ctx, client.ObjectKeyFromObject(obj), obj) == nil
			if exists != tt.created {
				t.Errorf("object exists: %v, want %v", exists, tt.created)
			}
		})
	}
}

func TestRotateKeepsTheFileAndReplacesTheToken(t *testing.T) {
	h := newHarness(t, options{})
	out := filepath.Join(t.TempDir(), "alice.yaml")
	if _, err := h.admin.Create(h.ctx, CreateOptions{Kind: token.KindClient, Namespace: namespace, Name: "alice", Config: ConfigOptions{Out: out}}); err != nil {
		t.Fatal(err)
	}
	// The user's own settings survive a rotation.
	cfg, err := clientconfig.LoadClientConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	oldToken := cfg.Token
	cfg.Drivers.Allow = []string{"mine"}
	cfg.GRPCOptions["grpc.keepalive_time_ms"] = 10000
	if err := cfg.Save(out); err != nil {
		t.Fatal(err)
	}

	res, err := h.admin.Rotate(h.ctx, token.KindClient, namespace, "alice", ConfigOptions{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != out {
		t.Errorf("path %q, want %q", res.Path, out)
	}
	rotated, err := clientconfig.LoadClientConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.Token == oldToken || rotated.Token != h.secretToken(token.KindClient, "alice") {
		t.Error("the config does not hold the new stored token")
	}
	if len(rotated.Drivers.Allow) != 1 || rotated.GRPCOptions["grpc.keepalive_time_ms"] != 10000 || rotated.TLS != cfg.TLS {
		t.Errorf("rotation lost the file's settings: %+v", rotated)
	}

	// Another object's file is not overwritten.
	if _, err := h.admin.Create(h.ctx, CreateOptions{Kind: token.KindClient, Namespace: namespace, Name: "bob", Config: ConfigOptions{Out: filepath.Join(t.TempDir(), "bob.yaml")}}); err != nil {
		t.Fatal(err)
	}
	_, err = h.admin.Rotate(h.ctx, token.KindClient, namespace, "bob", ConfigOptions{Out: out})
	if err == nil || !strings.Contains(err.Error(), "is the config of lab/alice, not of lab/bob") {
		t.Errorf("rotate into alice's file: %v", err)
	}
}

func TestRotateExporterWritesAFreshFile(t *testing.T) {
	h := newHarness(t, options{})
	if _, err := h.admin.Create(h.ctx, CreateOptions{Kind: token.KindExporter, Namespace: namespace, Name: "board1", Labels: map[string]string{"board": "rpi4"}, Config: ConfigOptions{Out: filepath.Join(t.TempDir(), "x.yaml")}}); err != nil {
		t.Fatal(err)
	}
	old := h.secretToken(token.KindExporter, "board1")
	out := filepath.Join(t.TempDir(), "board1.yaml")
	if _, err := h.admin.Rotate(h.ctx, token.KindExporter, namespace, "board1", ConfigOptions{Out: out}); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientconfig.LoadExporterConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Token == old || cfg.Token != h.secretToken(token.KindExporter, "board1") {
		t.Error("the config does not hold the new token")
	}
	if ca, _ := cfg.TLS.CABundle(); !bytes.Equal(ca, h.caPEM) {
		t.Error("a fresh file lacks the namespace's CA")
	}
}

func TestRotateErrors(t *testing.T) {
	h := newHarness(t, options{})
	_, err := h.admin.Rotate(h.ctx, token.KindClient, namespace, "nobody", ConfigOptions{})
	if err == nil || err.Error() != "rotate client lab/nobody: not found" {
		t.Errorf("rotate a missing client: %v", err)
	}
	if _, err := h.admin.Create(h.ctx, CreateOptions{Kind: token.KindClient, Namespace: namespace, Name: "alice", Config: ConfigOptions{Out: filepath.Join(t.TempDir(), "a.yaml")}}); err != nil {
		t.Fatal(err)
	}
	h.controllerDown.Store(true)
	h.admin.Timeout = 200 * time.Millisecond
	_, err = h.admin.Rotate(h.ctx, token.KindClient, namespace, "alice", ConfigOptions{Out: filepath.Join(t.TempDir(), "b.yaml")})
	if err == nil || !strings.Contains(err.Error(), "rotate client lab/alice: the controller did not issue its credential within 200ms: Secret alice-client still holds the old token") {
		t.Errorf("rotate without a controller: %v", err)
	}
}

func TestDelete(t *testing.T) {
	h := newHarness(t, options{})
	if _, err := h.admin.Create(h.ctx, CreateOptions{Kind: token.KindExporter, Namespace: namespace, Name: "board1", Labels: map[string]string{"board": "rpi4"}, Config: ConfigOptions{Out: Stdout, Stdout: &bytes.Buffer{}}}); err != nil {
		t.Fatal(err)
	}
	if err := h.admin.Delete(h.ctx, token.KindExporter, namespace, "board1"); err != nil {
		t.Fatal(err)
	}
	err := h.admin.Delete(h.ctx, token.KindExporter, namespace, "board1")
	if err == nil || err.Error() != "delete exporter lab/board1: not found" {
		t.Errorf("second delete: %v", err)
	}
}

func TestGetTable(t *testing.T) {
	h := newHarness(t, options{})
	now := time.Now()
	for _, name := range []string{"alice", "bob"} {
		if _, err := h.admin.Create(h.ctx, CreateOptions{Kind: token.KindClient, Namespace: namespace, Name: name, Config: ConfigOptions{Out: Stdout, Stdout: &bytes.Buffer{}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.admin.Create(h.ctx, CreateOptions{Kind: token.KindExporter, Namespace: namespace, Name: "board1", Labels: map[string]string{"board": "rpi4", "site": "a"}, Config: ConfigOptions{Out: Stdout, Stdout: &bytes.Buffer{}}}); err != nil {
		t.Fatal(err)
	}
	// The exporter reports in.
	e := &jumpstarterv1alpha1.Exporter{}
	if err := h.client.Get(h.ctx, types.NamespacedName{Namespace: namespace, Name: "board1"}, e); err != nil {
		t.Fatal(err)
	}
	e.Status.LastSeen = &metav1.Time{Time: now}
	e.Status.Conditions = []metav1.Condition{
		{Type: jumpstarterv1alpha1.ExporterConditionRegistered, Status: metav1.ConditionTrue, Reason: "Registered", LastTransitionTime: metav1.Now()},
		{Type: jumpstarterv1alpha1.ExporterConditionOnline, Status: metav1.ConditionTrue, Reason: "Online", LastTransitionTime: metav1.Now()},
	}
	if err := h.client.Status().Update(h.ctx, e); err != nil {
		t.Fatal(err)
	}

	clients, err := h.admin.Get(h.ctx, token.KindClient, namespace, "")
	if err != nil {
		t.Fatal(err)
	}
	table, err := h.admin.Table(h.ctx, clients)
	if err != nil {
		t.Fatal(err)
	}
	if len(table.Rows) != 2 || table.Rows[0].Cells[0] != "alice" || table.Rows[0].Cells[1] != endpoint || table.Rows[0].Cells[2] == none || table.Rows[0].Cells[4] != none {
		t.Errorf("client table %+v", table.Rows)
	}

	exporter, err := h.admin.Get(h.ctx, token.KindExporter, namespace, "board1")
	if err != nil {
		t.Fatal(err)
	}
	table, err = h.admin.Table(h.ctx, exporter)
	if err != nil {
		t.Fatal(err)
	}
	if len(table.Rows) != 1 {
		t.Fatalf("exporter table %+v", table.Rows)
	}
	cells := table.Rows[0].Cells
	wantExpiry := now.Add(token.DefaultLifetime)
	expiry, err := time.Parse(time.RFC3339, cells[3].(string))
	if cells[0] != "board1" || cells[2] != "true" || cells[4] != "board=rpi4,site=a" || err != nil || expiry.Sub(wantExpiry).Abs() > time.Minute {
		t.Errorf("exporter row %v (token expiry want about %s)", cells, wantExpiry.UTC().Format(time.RFC3339))
	}

	_, err = h.admin.Get(h.ctx, token.KindExporter, namespace, "nothere")
	if err == nil || err.Error() != "get exporter lab/nothere: not found" {
		t.Errorf("get a missing exporter: %v", err)
	}
}

func TestParseLabels(t *testing.T) {
	tests := []struct {
		in   []string
		want map[string]string
		err  string
	}{
		{in: nil, want: map[string]string{}},
		{in: []string{"board=rpi4", "example.com/site=lab-1", "empty="}, want: map[string]string{"board": "rpi4", "example.com/site": "lab-1", "empty": ""}},
		{in: []string{"board"}, err: `--label "board": want key=value`},
		{in: []string{"bad key=x"}, err: `--label "bad key=x": key "bad key"`},
		{in: []string{"k=bad value"}, err: `--label "k=bad value": value "bad value"`},
		{in: []string{"k=a", "k=b"}, err: `key "k" given twice`},
	}
	for _, tt := range tests {
		got, err := ParseLabels(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseLabels(%q): %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("ParseLabels(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("ParseLabels(%q)[%s] = %q, want %q", tt.in, k, got[k], v)
			}
		}
	}
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]token.Kind{"client": token.KindClient, "Clients": token.KindClient, "exporter": token.KindExporter, "exporters": token.KindExporter} {
		if got, err := ParseKind(in); err != nil || got != want {
			t.Errorf("ParseKind(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseKind("lease"); err == nil || !strings.Contains(err.Error(), `unknown kind "lease"`) {
		t.Errorf("ParseKind(lease): %v", err)
	}
}
