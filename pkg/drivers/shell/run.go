package shell

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"k8s.io/klog/v2"

	"jumpstarter.dev/service/pkg/drivers"
)

const (
	// killGrace is how long a process group has between SIGTERM and SIGKILL (upstream's).
	killGrace = 5 * time.Second
	// outputGrace bounds the wait for output after the command exited, when something it
	// started in the background still holds its stdout or stderr.
	outputGrace = 2 * time.Second
	// outputQueue is how many output chunks wait for the client before the process blocks.
	outputQueue = 16
)

var errStopped = errors.New("output no longer read")

// chunk is one write of the process to stdout (fd 0 here) or stderr (fd 1).
type chunk struct {
	fd   int
	data []byte
}

type chunkWriter struct {
	fd   int
	out  chan<- chunk
	stop <-chan struct{}
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	select {
	case w.out <- chunk{fd: w.fd, data: bytes.Clone(p)}:
		return len(p), nil
	case <-w.stop:
		return 0, errStopped
	}
}

// run starts c, yields its output as it comes and its exit code at the end.
func (d *Driver) run(ctx context.Context, c call, yield func(any) error) error {
	logger := klog.FromContext(ctx).WithValues("method", c.name)
	if d.cwd != "" {
		if st, err := os.Stat(d.cwd); err != nil || !st.IsDir() {
			return drivers.InvalidArgument("Working directory does not exist: %s", d.cwd)
		}
	}
	out := make(chan chunk, outputQueue)
	stop := make(chan struct{})
	defer close(stop)

	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Dir = d.cwd
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = outputGrace
	cmd.Stdout = &chunkWriter{fd: 0, out: out, stop: stop}
	cmd.Stderr = &chunkWriter{fd: 1, out: out, stop: stop}
	if err := cmd.Start(); err != nil {
		if code, reason, ok := startFailure(err); ok && c.direct {
			return yield([]any{"", fmt.Sprintf("%s: %s\n", c.name, reason), code})
		}
		return fmt.Errorf("start %s: %w", c.name, err)
	}
	logger.V(2).Info("Shell command started", "pid", cmd.Process.Pid)

	exited := make(chan struct{})
	var once atomic.Bool
	killGroup := func() {
		if !once.CompareAndSwap(false, true) {
			return
		}
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		go func() {
			select {
			case <-exited:
			case <-time.After(killGrace):
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
			}
		}()
	}
	var timedOut atomic.Bool
	timer := time.AfterFunc(c.timeout, func() {
		timedOut.Store(true)
		killGroup()
	})
	defer timer.Stop()
	defer context.AfterFunc(ctx, killGroup)()

	waited := make(chan error, 1)
	go func() {
		waited <- cmd.Wait()
		close(exited)
	}()

	var text [2]textDecoder
	send := func(ch chunk) error {
		s := text[ch.fd].decode(ch.data)
		if s == "" {
			return nil
		}
		item := []any{"", "", nil}
		item[ch.fd] = s
		return yield(item)
	}
	for running := true; running; {
		select {
		case ch := <-out:
			if err := send(ch); err != nil {
				killGroup()
				return err
			}
		case <-waited:
			running = false
		}
	}
	// The writers are done once Wait returned (or their pipes are closed): take what is left.
	for drained := false; !drained; {
		select {
		case ch := <-out:
			if err := send(ch); err != nil {
				return err
			}
		default:
			drained = true
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	last := []any{text[0].flush(), text[1].flush(), exitCode(cmd.ProcessState)}
	if timedOut.Load() {
		last[1] = last[1].(string) + fmt.Sprintf("\nTimeout expired while running %s: timed out after %s\n", c.name, c.timeout)
		last[2] = TimeoutExitCode
	}
	logger.V(2).Info("Shell command ended", "exitCode", last[2])
	return yield(last)
}

// startFailure is the exit code and message a shell reports for a command it cannot start.
func startFailure(err error) (int, string, bool) {
	switch {
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return NotFoundExitCode, "command not found", true
	case errors.Is(err, fs.ErrPermission):
		return 126, "permission denied", true
	}
	return 0, "", false
}

// exitCode is the process's exit status, or 128+signal when a signal ended it.
func exitCode(ps *os.ProcessState) int {
	if code := ps.ExitCode(); code >= 0 {
		return code
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return -1
}

// textDecoder turns output bytes into valid UTF-8 text (google.protobuf.Value strings must
// be), holding back a character split across two writes.
type textDecoder struct{ carry []byte }

func (t *textDecoder) decode(b []byte) string {
	b = append(t.carry, b...)
	cut := len(b)
	for i := len(b) - 1; i >= 0 && i > len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				cut = i
			}
			break
		}
	}
	t.carry = bytes.Clone(b[cut:])
	return strings.ToValidUTF8(string(b[:cut]), "\uFFFD")
}

func (t *textDecoder) flush() string {
	s := strings.ToValidUTF8(string(t.carry), "\uFFFD")
	t.carry = nil
	return s
}
