package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/clientconfig"
	"jumpstarter.dev/service/pkg/credentials"
)

const testEndpoint = "127.0.0.1:8082"

// fakeCluster is a fake client whose Creates of Clients and Exporters are answered at once, as
// the controller would: a credential Secret and the status that points at it.
func fakeCluster(t *testing.T) client.Client {
	t.Helper()
	scheme := newScheme()
	return fake.NewClientBuilder().WithScheme(scheme).
		WithStatusSubresource(&jumpstarterv1alpha1.Client{}, &jumpstarterv1alpha1.Exporter{}).
		WithInterceptorFuncs(interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			obj.SetUID(uuid.NewUUID())
			if err := c.Create(ctx, obj, opts...); err != nil {
				return err
			}
			kind, err := credentials.KindOf(obj)
			if err != nil {
				return nil // not ours to answer
			}
			name := credentials.SecretName(kind, obj.GetName())
			secret := &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: obj.GetNamespace(), Name: name},
				Data:       map[string][]byte{credentials.KeyToken: []byte("header.payload-" + obj.GetName() + ".signature")},
			}
			if err := c.Create(ctx, secret); err != nil {
				return err
			}
			ref := &corev1.LocalObjectReference{Name: name}
			switch o := obj.(type) {
			case *jumpstarterv1alpha1.Client:
				o.Status.Credential, o.Status.Endpoint = ref, testEndpoint
			case *jumpstarterv1alpha1.Exporter:
				o.Status.Credential, o.Status.Endpoint = ref, testEndpoint
			}
			return c.Status().Update(ctx, obj)
		}}).Build()
}

// run runs jmpctl against c and returns the exit code, standard output and standard error.
func run(t *testing.T, c client.Client, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	newClient := func(flags ClusterFlags, _ *runtime.Scheme) (client.Client, string, error) {
		ns := flags.Namespace
		if ns == "" {
			ns = "lab"
		}
		return c, ns, nil
	}
	code := Run(t.Context(), args, Streams{Out: &out, ErrOut: &errOut}, newClient)
	return code, out.String(), errOut.String()
}

func TestAdminCommands(t *testing.T) {
	t.Setenv(clientconfig.EnvConfigHome, t.TempDir())
	c := fakeCluster(t)
	dir := t.TempDir()
	aliceFile := filepath.Join(dir, "alice.yaml")

	tests := []struct {
		name     string
		args     []string
		wantCode int
		// Substrings of standard output and standard error.
		wantOut, wantErr string
		check            func(t *testing.T)
	}{
		{
			name: "create client", args: []string{"admin", "create", "client", "alice", "--out", aliceFile, "--allow", "a,b", "--unsafe", "-l", "team=qa"},
			wantOut: "client lab/alice created, config written to " + aliceFile,
			check: func(t *testing.T) {
				cfg, err := clientconfig.LoadClientConfig(aliceFile)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(cfg.Drivers.Allow, ",") != "a,b" || !cfg.Drivers.Unsafe || cfg.Token != "header.payload-alice.signature" || cfg.Endpoint != testEndpoint {
					t.Errorf("config %+v", cfg)
				}
			},
		},
		{
			name: "create exporter without a label", args: []string{"admin", "create", "exporter", "board1"},
			wantCode: 1, wantErr: "Error: create exporter lab/board1: at least one --label is required",
		},
		{
			name: "exporters have no --allow", args: []string{"admin", "create", "exporter", "board1", "-l", "board=rpi4", "--allow", "x"},
			wantCode: ExitUsage, wantErr: "unknown flag: --allow",
		},
		{
			name: "bad label", args: []string{"admin", "create", "exporter", "board1", "-l", "board"},
			wantCode: 1, wantErr: `Error: --label "board": want key=value`,
		},
		{
			name: "create exporter to stdout in another namespace", args: []string{"admin", "create", "exporter", "board1", "-n", "other", "-l", "board=rpi4", "--out", "-"},
			wantOut: "kind: ExporterConfig\nmetadata:\n  namespace: other\n  name: board1\n", wantErr: "exporter other/board1 created",
		},
		{
			name: "create exporter, default path", args: []string{"admin", "create", "exporter", "board2", "-l", "board=rpi4"},
			wantOut: "exporters/board2.yaml",
		},
		{
			name: "get clients", args: []string{"admin", "get", "clients"},
			wantOut: "NAME    ENDPOINT         TOKEN-EXPIRES   USERNAME   LABELS\nalice   127.0.0.1:8082   <none>          <none>     team=qa\n",
		},
		{
			name: "get exporter as yaml", args: []string{"admin", "get", "exporter", "board2", "-o", "yaml"},
			wantOut: "apiVersion: jumpstarter.dev/v1alpha1\nkind: Exporter\n",
		},
		{
			name: "get exporters as json", args: []string{"admin", "get", "exporters", "-n", "other", "-o", "json"},
			wantOut: `"kind": "Exporter"`,
		},
		{
			name: "get nothing", args: []string{"admin", "get", "exporters", "-n", "empty"},
			wantErr: "No exporters found in namespace empty.",
		},
		{
			name: "get unknown output", args: []string{"admin", "get", "client", "-o", "wide"},
			wantCode: 1, wantErr: `--output "wide": want json or yaml`,
		},
		{
			name: "get unknown kind", args: []string{"admin", "get", "lease"},
			wantCode: 1, wantErr: `Error: unknown kind "lease": want client or exporter`,
		},
		{
			name: "get missing", args: []string{"admin", "get", "client", "bob"},
			wantCode: 1, wantErr: "Error: get client lab/bob: not found",
		},
		{
			name: "delete", args: []string{"admin", "delete", "client", "alice"},
			wantOut: "client lab/alice deleted",
		},
		{
			name: "delete again", args: []string{"admin", "delete", "client", "alice"},
			wantCode: 1, wantErr: "Error: delete client lab/alice: not found",
		},
		{
			name: "rotate missing", args: []string{"admin", "rotate", "exporter", "nope"},
			wantCode: 1, wantErr: "Error: rotate exporter lab/nope: not found",
		},
		{
			name: "missing name", args: []string{"admin", "delete", "client"},
			wantCode: ExitUsage, wantErr: "accepts 2 arg(s), received 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, c, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out, errOut)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("stdout %q, want it to contain %q", out, tt.wantOut)
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", errOut, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t)
			}
		})
	}
	if out := func() string { _, o, _ := run(t, c, "admin", "get", "exporter", "board2", "-o", "yaml"); return o }(); strings.Contains(out, "managedFields") {
		t.Errorf("yaml output has managedFields:\n%s", out)
	}
}

func TestKubeconfigClient(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: t}
contexts:
- name: one
  context: {cluster: c, user: u, namespace: ns1}
- name: two
  context: {cluster: c, user: u}
current-context: one
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		flags ClusterFlags
		want  string
	}{
		{flags: ClusterFlags{Kubeconfig: kubeconfig}, want: "ns1"},
		{flags: ClusterFlags{Kubeconfig: kubeconfig, Namespace: "flag"}, want: "flag"},
		{flags: ClusterFlags{Kubeconfig: kubeconfig, Context: "two"}, want: "default"},
	}
	for _, tt := range tests {
		c, ns, err := KubeconfigClient(tt.flags, newScheme())
		if err != nil || c == nil || ns != tt.want {
			t.Errorf("KubeconfigClient(%+v) = %v, %q, %v; want namespace %q", tt.flags, c, ns, err, tt.want)
		}
	}
	if _, _, err := KubeconfigClient(ClusterFlags{Kubeconfig: filepath.Join(t.TempDir(), "missing")}, newScheme()); err == nil {
		t.Error("a missing kubeconfig: no error")
	}
}
