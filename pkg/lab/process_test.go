package lab

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
)

func sleeper(t *testing.T, name, script string) *ComponentState {
	t.Helper()
	return &ComponentState{
		Name:        name,
		Path:        "/bin/sh",
		Args:        []string{"-c", script},
		Log:         filepath.Join(t.TempDir(), name+".log"),
		StopTimeout: 500 * time.Millisecond,
	}
}

func TestProcessStop(t *testing.T) {
	logger := testr.New(t)
	for name, tc := range map[string]struct {
		script  string
		kill    bool
		atLeast time.Duration
	}{
		"SIGTERM":         {script: "exec sleep 60"},
		"SIGKILL":         {script: "exec sleep 60", kill: true},
		"ignores SIGTERM": {script: `trap "" TERM; echo started; sleep 60 & wait`, atLeast: 500 * time.Millisecond},
		"child in group":  {script: "sleep 60 & sleep 61 & wait"},
	} {
		t.Run(name, func(t *testing.T) {
			c := sleeper(t, "p", tc.script)
			ch, err := startProcess(logger, c, t.TempDir(), false)
			if err != nil {
				t.Fatal(err)
			}
			pid := c.PID
			if !alive(c) {
				t.Fatal("not alive after start")
			}
			if tc.atLeast > 0 {
				time.Sleep(200 * time.Millisecond) // let the shell install its trap
			}
			start := time.Now()
			if err := stopProcess(t.Context(), logger, c, tc.kill); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < tc.atLeast {
				t.Errorf("stopped after %s, want at least %s", d, tc.atLeast)
			}
			select {
			case <-ch.done:
			case <-time.After(5 * time.Second):
				t.Fatal("Wait did not return")
			}
			if c.PID != 0 || alive(&ComponentState{PID: pid}) {
				t.Error("process still recorded or alive")
			}
		})
	}
}

func TestAliveRejectsReusedPID(t *testing.T) {
	c := sleeper(t, "p", "exec sleep 60")
	if _, err := startProcess(testr.New(t), c, t.TempDir(), false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stopProcess(t.Context(), testr.New(t), c, true) })
	if !haveProc {
		t.Skip("no /proc")
	}
	other := *c
	other.StartTicks++
	if alive(&other) {
		t.Error("a PID with another start time counts as the lab's process")
	}
	if !alive(c) {
		t.Error("process not alive")
	}
}

func TestWaitReadyExitedProcess(t *testing.T) {
	c := sleeper(t, "p", "echo something went wrong; exit 3")
	c.ReadyURL = "http://127.0.0.1:1/healthz"
	if _, err := startProcess(testr.New(t), c, t.TempDir(), false); err != nil {
		t.Fatal(err)
	}
	err := waitReady(t.Context(), c, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "something went wrong") {
		t.Fatalf("error %v does not carry the log tail", err)
	}
}

func TestProcessGetsItsEnvOnTopOfTheLabs(t *testing.T) {
	t.Setenv("LAB_TEST_INHERITED", "kept")
	t.Setenv("GOGC", "100")
	c := sleeper(t, "env", `echo "$LAB_TEST_INHERITED GOGC=$GOGC"`)
	c.Env = []string{"GOGC=200"}
	ch, err := startProcess(testr.New(t), c, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	<-ch.done
	out, err := os.ReadFile(c.Log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "kept GOGC=200\n") {
		t.Errorf("process printed %q, want the lab's environment with GOGC=200 on top", out)
	}
}

// TestOurLongRunningComponentsGetGOGC: the scheduler and the controller run with the GC
// setting of config/; the upstream components keep Go's default.
func TestOurLongRunningComponentsGetGOGC(t *testing.T) {
	dir := t.TempDir()
	s := &State{Dir: dir, LabBin: dir, Bin: dir}
	for _, name := range AllComponents {
		plan, err := planComponent(s, name, labPorts{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := name == Scheduler || name == Controller
		if got := slices.Contains(plan.state.Env, ourGOGC); got != want {
			t.Errorf("%s: env %v, GOGC set = %v, want %v", name, plan.state.Env, got, want)
		}
	}
}
