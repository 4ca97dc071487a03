package plugin

import (
	"testing"

	v1 "k8s.io/api/core/v1"
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
	// Placeholders are not signed: reservations make Filter depend on the pod's place in the
	// queue, which no signature taken when the pod is queued can capture.
	for _, pod := range []*v1.Pod{
		placeholder("a").Obj(),
		placeholder("b").Annotation(jsv1alpha1.AnnotationAllowDisabled, "true").Obj(),
	} {
		if f, status := pl.SignPod(t.Context(), pod); status.Code() != fwk.Unschedulable || f != nil {
			t.Errorf("SignPod(%s) = %v, %v; want no fragments and Unschedulable", pod.Name, f, status)
		}
	}
	if f, status := pl.SignPod(t.Context(), plainPod("web").Obj()); !status.IsSuccess() || len(f) != 0 {
		t.Errorf("SignPod(plain pod) = %v, %v; want success without fragments", f, status)
	}
}

// TestFrameworkSignatures checks that the framework, with this plugin at PreFilter, Filter and
// Score, keeps signatures on for the profile (it turns them off when a plugin lacks SignPlugin)
// and leaves placeholders unsigned, so that opportunistic batching never reuses one
// placeholder's filter results for another.
func TestFrameworkSignatures(t *testing.T) {
	env := newTestEnv(t)
	if sig := env.fw.SignPod(env.ctx, plainPod("web").Obj()); sig == nil {
		t.Error("framework returned no signature for a plain pod: batching is off for the profile")
	}
	for _, lease := range []string{"a", "b"} {
		if sig := env.fw.SignPod(env.ctx, placeholder(lease).Obj()); sig != nil {
			t.Errorf("placeholder %s signed %s, want no signature", lease, sig)
		}
	}
}
