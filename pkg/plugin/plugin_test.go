package plugin

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/apis/config"

	jsv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

func TestNewArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    runtime.Object
		wantErr bool
	}{
		{name: "no pluginConfig entry", args: nil},
		{name: "empty raw args", args: &runtime.Unknown{}},
		{name: "null args", args: &runtime.Unknown{Raw: []byte("null")}},
		{name: "empty object", args: &runtime.Unknown{Raw: []byte(" {} ")}},
		{name: "non-empty object", args: &runtime.Unknown{Raw: []byte(`{"weight":3}`)}, wantErr: true},
		{name: "not an object", args: &runtime.Unknown{Raw: []byte(`[1]`)}, wantErr: true},
		{name: "typed args of another plugin", args: &config.NodeAffinityArgs{}, wantErr: true},
	}
	env := newTestEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(env.ctx, tt.args, env.fw)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && p.Name() != Name {
				t.Errorf("Name() = %q, want %q", p.Name(), Name)
			}
		})
	}
}

func TestSignPod(t *testing.T) {
	pl := &Exporter{}
	fragments := func(t *testing.T, lease string, allow bool) []fwk.SignFragment {
		t.Helper()
		w := placeholder(lease)
		if allow {
			w = w.Annotation(jsv1alpha1.AnnotationAllowDisabled, "true")
		}
		f, status := pl.SignPod(t.Context(), w.Obj())
		if !status.IsSuccess() {
			t.Fatal(status)
		}
		return f
	}
	// Placeholders of different leases must sign alike, or kube-scheduler never batches them.
	if a, b := fragments(t, "a", false), fragments(t, "b", false); !reflect.DeepEqual(a, b) {
		t.Errorf("leases a and b sign differently: %v vs %v", a, b)
	}
	// Allowing disabled exporters changes what Filter accepts, so it must change the signature.
	if a, b := fragments(t, "a", false), fragments(t, "a", true); reflect.DeepEqual(a, b) {
		t.Errorf("allow-disabled does not change the signature: %v", a)
	}
	plain, status := pl.SignPod(t.Context(), plainPod("web").Obj())
	if !status.IsSuccess() {
		t.Fatal(status)
	}
	if reflect.DeepEqual(plain, fragments(t, "a", false)) {
		t.Errorf("a plain pod signs like a placeholder: %v", plain)
	}
}

// TestFrameworkSignsPlaceholders checks that the framework, with this plugin at Filter and
// Score, keeps signatures on (it turns them off when a plugin lacks SignPlugin) and signs two
// placeholders of different leases alike, so they can be batched.
func TestFrameworkSignsPlaceholders(t *testing.T) {
	env := newTestEnv(t)
	a := env.fw.SignPod(env.ctx, placeholder("a").Obj())
	b := env.fw.SignPod(env.ctx, placeholder("b").Obj())
	if a == nil {
		t.Fatal("framework returned no signature: batching is off for the profile")
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("signatures differ:\n%s\n%s", a, b)
	}
}
