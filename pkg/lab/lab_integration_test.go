package lab

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
)

// TestLabStartStop starts a real lab from the binaries in $LAB_BIN (hack/build-lab-bins.sh),
// plus our scheduler and controller when $JUMPSTARTER_BIN has them, and checks that Stop leaves
// no process and no bound port behind.
func TestLabStartStop(t *testing.T) {
	labBin := os.Getenv("LAB_BIN")
	if labBin == "" {
		t.Skip("LAB_BIN is not set (LAB_BIN=$(hack/build-lab-bins.sh) go test ./pkg/lab/)")
	}
	bin := os.Getenv("JUMPSTARTER_BIN")
	components := []string{Etcd, KubeAPIServer, KubeControllerManager}
	if bin != "" && fileExists(filepath.Join(bin, SchedulerBinary)) {
		components = append(components, Scheduler)
	}
	if bin != "" && fileExists(filepath.Join(bin, ControllerBinary)) {
		components = append(components, Controller)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()

	begin := time.Now()
	l, err := Start(ctx, Options{
		Dir:           dir,
		LabBin:        labBin,
		Bin:           bin,
		Components:    components,
		Logger:        testr.NewWithOptions(t, testr.Options{Verbosity: 1}),
		DieWithParent: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = l.Stop(context.Background())
		}
	})
	t.Logf("lab with %v ready in %s", components, time.Since(begin).Round(time.Millisecond))

	out, err := l.Kubectl(ctx, "get", "ns", "-o", "name")
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"namespace/default", "namespace/kube-system"} {
		if !strings.Contains(out, ns) {
			t.Errorf("kubectl get ns lacks %s:\n%s", ns, out)
		}
	}
	if cfg := l.RESTConfig(); cfg == nil || cfg.Host != l.APIServerURL() {
		t.Errorf("RESTConfig %v, want host %s", cfg, l.APIServerURL())
	}
	if crds, _, _ := ConfigManifests(FindConfigDir()); len(crds) > 0 {
		if _, err := l.Kubectl(ctx, "get", "crd", "exporters.jumpstarter.dev"); err != nil {
			t.Errorf("CRDs not installed: %v", err)
		}
	}

	// The demo namespace has the CA for `jmpctl admin create`, and PublishCA puts it elsewhere.
	caPEM, err := os.ReadFile(l.CACertPath())
	if err != nil {
		t.Fatal(err)
	}
	caJSONPath := "jsonpath={.data.ca\\.crt}"
	if out, err := l.Kubectl(ctx, "get", "configmap", "jumpstarter-service-ca-cert", "-n", "lab", "-o", caJSONPath); err != nil || out != string(caPEM) {
		t.Errorf("CA ConfigMap in namespace lab: %q, %v; want the lab CA", out, err)
	}
	if _, err := l.Kubectl(ctx, "create", "namespace", "ca-test"); err != nil {
		t.Fatal(err)
	}
	if err := l.PublishCA(ctx, "ca-test"); err != nil {
		t.Fatal(err)
	}
	if out, err := l.Kubectl(ctx, "get", "configmap", "jumpstarter-service-ca-cert", "-n", "ca-test", "-o", caJSONPath); err != nil || out != string(caPEM) {
		t.Errorf("CA ConfigMap in namespace ca-test: %q, %v; want the lab CA", out, err)
	}
	if slices.Contains(components, Controller) && !strings.HasPrefix(l.GRPCEndpoint(), "127.0.0.1:") {
		t.Errorf("GRPCEndpoint() = %q, want 127.0.0.1:PORT", l.GRPCEndpoint())
	}

	// A dry run validates without persisting.
	dryRun := filepath.Join(t.TempDir(), "dry-run.yaml")
	if err := os.WriteFile(dryRun, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dry-run}\ndata: {a: b}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ApplyManifestsWithOptions(ctx, l.RESTConfig(), ApplyOptions{DryRun: true}, dryRun); err != nil {
		t.Fatal(err)
	}
	if out, _ := l.Kubectl(ctx, "get", "configmap", "dry-run", "--ignore-not-found", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Errorf("dry run created %s", out)
	}
	if err := ApplyManifests(ctx, l.RESTConfig(), dryRun); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Kubectl(ctx, "get", "configmap", "dry-run"); err != nil {
		t.Errorf("ApplyManifests: %v", err)
	}

	// kube-controller-manager: the service-account controller fills a new namespace, the
	// namespace controller empties and removes a deleted one.
	if _, err := l.Kubectl(ctx, "create", "namespace", "lab-test"); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, time.Minute, "default ServiceAccount in lab-test", func() bool {
		_, err := l.Kubectl(ctx, "get", "serviceaccount", "default", "-n", "lab-test")
		return err == nil
	})
	if _, err := l.Kubectl(ctx, "delete", "namespace", "lab-test", "--wait=false"); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, time.Minute, "namespace lab-test deleted", func() bool {
		out, _ := l.Kubectl(ctx, "get", "namespace", "lab-test", "--ignore-not-found", "-o", "name")
		return strings.TrimSpace(out) == ""
	})

	// Crash and restart a component with the same flags.
	victim := components[len(components)-1]
	if err := l.KillComponent(victim); err != nil {
		t.Fatal(err)
	}
	if l.Running(victim) {
		t.Fatalf("%s still running after KillComponent", victim)
	}
	restart := time.Now()
	if err := l.StartComponent(ctx, victim); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s restarted in %s", victim, time.Since(restart).Round(time.Millisecond))

	// Another process sees the same lab.
	attached, err := Attach(dir)
	if err != nil {
		t.Fatal(err)
	}
	comps := l.Components()
	for _, c := range attached.Components() {
		i := slices.IndexFunc(comps, func(o ComponentState) bool { return o.Name == c.Name })
		if i < 0 || comps[i].PID != c.PID || !attached.Running(c.Name) {
			t.Errorf("attached lab disagrees on %s (pid %d)", c.Name, c.PID)
		}
	}

	stopBegin := time.Now()
	if err := l.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	stopped = true
	t.Logf("lab stopped in %s", time.Since(stopBegin).Round(time.Millisecond))
	for _, c := range comps {
		if alive(&c) {
			t.Errorf("%s (pid %d) still running after Stop", c.Name, c.PID)
		}
		for role, port := range c.Ports {
			if !PortFree(port) {
				t.Errorf("%s %s port %d still bound after Stop", c.Name, role, port)
			}
		}
	}
	if attached.Running(Etcd) {
		t.Error("attached lab still sees etcd running")
	}
	// Stop is idempotent.
	if err := l.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func eventually(t *testing.T, ctx context.Context, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	begin := time.Now()
	for !cond() {
		if time.Since(begin) > timeout || ctx.Err() != nil {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("%s after %s", what, time.Since(begin).Round(time.Millisecond))
}
