package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"jumpstarter.dev/service/e2e/support"
	"jumpstarter.dev/service/pkg/lab/demo"
)

// TestDemoLabStartsAgainOnItsFolder is what a lab admin does first: `make run` (lab up --demo),
// try the demo exporter as the README says, stop, and start again on the same folder, whose
// etcd still holds the demo objects from the first start.
func TestDemoLabStartsAgainOnItsFolder(t *testing.T) {
	dir := t.TempDir()
	labCmd := func(ctx context.Context, args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, binPath(t, "lab"), append(args, "--dir", dir)...)
		cmd.Env = clientEnv()
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("lab %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	down := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		labCmd(ctx, "down")
	}
	t.Cleanup(down)
	site := &tunnelSite{clientConfig: filepath.Join(dir, "demo", demo.ClientName+"-client.yaml")}

	for _, start := range []string{"first start", "start on the same folder"} {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		labCmd(ctx, "up", "--demo", "--lab-bin", os.Getenv(support.EnvLabBin), "--bin", os.Getenv(support.EnvBin))
		got := site.runClient(ctx, t, "shell", "--selector", "board=qemu", "--duration", "1m", "--", "echo", "hello from the demo")
		if got.code != 0 || !strings.Contains(got.stdout, "hello from the demo") {
			t.Errorf("%s: jmpctl shell on the demo exporter: %s", start, got)
		}
		cancel()
		down()
	}
}
