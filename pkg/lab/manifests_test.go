package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestDecodeManifests(t *testing.T) {
	data := `
# a comment-only document
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
  namespace: ns
data: {a: b}
---
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ServiceAccount
  metadata: {name: sa1, namespace: ns}
- apiVersion: v1
  kind: ServiceAccount
  metadata: {name: sa2, namespace: ns}
---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [a.yaml]
---
apiVersion: v1
kind: Namespace
metadata: {name: ns}
---
{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "things.example.com"}}
`
	objs, err := DecodeManifests([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.GetKind()+"/"+o.GetName())
	}
	want := "ConfigMap/cm ServiceAccount/sa1 ServiceAccount/sa2 Namespace/ns CustomResourceDefinition/things.example.com"
	if strings.Join(got, " ") != want {
		t.Errorf("decoded %v, want %s", got, want)
	}

	got = nil
	for _, o := range sortForApply(objs) {
		got = append(got, o.GetKind()+"/"+o.GetName())
	}
	want = "CustomResourceDefinition/things.example.com Namespace/ns ConfigMap/cm ServiceAccount/sa1 ServiceAccount/sa2"
	if strings.Join(got, " ") != want {
		t.Errorf("apply order %v, want %s", got, want)
	}
}

func TestDecodeManifestsErrors(t *testing.T) {
	for name, data := range map[string]string{
		"no kind":   "apiVersion: v1\nmetadata: {name: x}\n",
		"no name":   "apiVersion: v1\nkind: ConfigMap\n",
		"bad yaml":  "apiVersion: v1\nkind: [\n",
		"not a map": "- a\n- b\n",
	} {
		if _, err := DecodeManifests([]byte(data)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestDecodeProjectManifests decodes the project's generated manifests and the lab's own.
func TestDecodeProjectManifests(t *testing.T) {
	if _, err := DecodeManifests([]byte(labBindings)); err != nil {
		t.Fatal(err)
	}
	configDir := FindConfigDir()
	if configDir == "" {
		t.Skip("not inside the jumpstarter.dev/service module")
	}
	crds, rbac, err := ConfigManifests(configDir)
	if err != nil {
		t.Fatal(err)
	}
	crdObjs, err := ReadManifests(crds...)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range crdObjs {
		if o.GetKind() != "CustomResourceDefinition" {
			t.Errorf("unexpected %s %s in crd/bases", o.GetKind(), o.GetName())
		}
	}
	rbacObjs, err := ReadManifests(rbac...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d CRDs, %d RBAC objects", len(crdObjs), len(rbacObjs))
}

func TestWriteSchedulerConfig(t *testing.T) {
	dir := t.TempDir()
	configDir := t.TempDir()
	ctx := t.Context()

	// Without a project configuration: the minimal default.
	if err := writeSchedulerConfig(ctx, dir, configDir); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(schedulerConfigPath(dir))
	for _, want := range []string{"schedulerName: jumpstarter-scheduler", "leaderElect: false", "kubeconfig: " + kubeconfigPath(dir, "scheduler")} {
		if !strings.Contains(string(got), want) {
			t.Errorf("default config lacks %q:\n%s", want, got)
		}
	}

	// With one: kept, with the lab's overrides.
	src := `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: /etc/kubernetes/scheduler.conf
  qps: 100
leaderElection:
  leaderElect: true
profiles:
- schedulerName: jumpstarter-scheduler
  plugins:
    filter:
      enabled:
      - name: ExporterFilter
`
	if err := os.MkdirAll(filepath.Join(configDir, "scheduler"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(configDir, SchedulerConfigSource), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeSchedulerConfig(ctx, dir, configDir); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(schedulerConfigPath(dir))
	for _, want := range []string{"name: ExporterFilter", "qps: 100", "leaderElect: false", "kubeconfig: " + kubeconfigPath(dir, "scheduler")} {
		if !strings.Contains(string(got), want) {
			t.Errorf("config lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(string(got), "/etc/kubernetes") {
		t.Errorf("kubeconfig not overridden:\n%s", got)
	}
}

// TestSchedulerFeatureGatesMatchConfig: the lab runs the scheduler with the feature gates the
// Deployment in config/ sets, so that what the lab measures is what users run.
func TestSchedulerFeatureGatesMatchConfig(t *testing.T) {
	container := deploymentContainer(t, "scheduler/scheduler.yaml")
	args, _, _ := unstructured.NestedStringSlice(container, "args")
	want := "--feature-gates=" + SchedulerFeatureGates
	if !slices.Contains(args, want) {
		t.Errorf("config/scheduler/scheduler.yaml runs the scheduler with %q, want %q among them (as the lab does)", args, want)
	}
}

// TestGOGCMatchesConfig: the Deployments of our scheduler and controller in config/ set the
// GOGC the lab runs them with.
func TestGOGCMatchesConfig(t *testing.T) {
	for _, file := range []string{"scheduler/scheduler.yaml", "manager/controller.yaml"} {
		vars, _, _ := unstructured.NestedSlice(deploymentContainer(t, file), "env")
		var env []string
		for _, v := range vars {
			m := v.(map[string]any)
			if value, ok := m["value"].(string); ok {
				env = append(env, fmt.Sprintf("%v=%s", m["name"], value))
			}
		}
		if !slices.Contains(env, ourGOGC) {
			t.Errorf("%s: the Deployment's env %v lacks %s, which the lab sets", file, env, ourGOGC)
		}
	}
}

// deploymentContainer is the first container of the Deployment in config/FILE; the test is
// skipped outside the module.
func deploymentContainer(t *testing.T, file string) map[string]any {
	t.Helper()
	configDir := FindConfigDir()
	if configDir == "" {
		t.Skip("not inside the jumpstarter.dev/service module")
	}
	objs, err := ReadManifests(filepath.Join(configDir, file))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		containers, _, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		if err != nil || len(containers) == 0 {
			t.Fatalf("%s: Deployment without containers: %v", file, err)
		}
		return containers[0].(map[string]any)
	}
	t.Fatalf("%s: no Deployment", file)
	return nil
}
