package lab

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
)

const (
	// pollInterval is how often the lab looks at a process, a port or an endpoint.
	pollInterval = 100 * time.Millisecond
	// probeTimeout bounds one readiness request.
	probeTimeout = 2 * time.Second
	// killTimeout is how long to wait for a process to disappear after SIGKILL.
	killTimeout = 10 * time.Second
	// logTailLines and logTailBytes bound the log excerpt put into errors.
	logTailLines = 30
	logTailBytes = 16 << 10
)

// child is a process this Go process started: its Wait runs in a goroutine so it never turns
// into a zombie. Processes of an attached lab have no child.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startProcess starts c in its own process group with its output appended to its log, and
// records its PID in c.
func startProcess(logger logr.Logger, c *ComponentState, workDir string, dieWithParent bool) (*child, error) {
	logf, err := os.OpenFile(c.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	fmt.Fprintf(logf, "==== lab: %s starting %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(slices.Concat(c.Env, []string{c.Path}, c.Args), " "))
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Dir = workDir
	if len(c.Env) > 0 {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if dieWithParent {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	ch := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(logf, "==== lab: %s exited: %v\n", time.Now().UTC().Format(time.RFC3339), exitDescription(err))
		logf.Close()
		close(ch.done)
	}()
	c.PID = cmd.Process.Pid
	c.StartedAt = time.Now()
	c.StartTicks = 0
	if ticks, _, err := procStat(c.PID); err == nil {
		c.StartTicks = ticks
	}
	logger.V(1).Info("Started process", "component", c.Name, "pid", c.PID, "log", c.Log)
	return ch, nil
}

func exitDescription(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// procStat returns the start time (in clock ticks since boot) and the state letter of a
// process from /proc/PID/stat.
func procStat(pid int) (startTicks uint64, state byte, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name is in parentheses and may contain anything, so parse after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is field 3 (state); the start time is field 22.
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	startTicks, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return startTicks, fields[0][0], nil
}

var haveProc = fileExists("/proc/self/stat")

// alive reports whether the process recorded in c still runs (zombies count as gone) and is
// the one the lab started, not a later process that got the same PID.
func alive(c *ComponentState) bool {
	if c.PID <= 0 {
		return false
	}
	if !haveProc {
		return syscall.Kill(c.PID, 0) == nil
	}
	ticks, state, err := procStat(c.PID)
	if err != nil {
		return false
	}
	if state == 'Z' || state == 'X' {
		return false
	}
	return c.StartTicks == 0 || ticks == c.StartTicks
}

// signal sends sig to the process group of c, falling back to the process itself.
func signal(c *ComponentState, sig syscall.Signal) error {
	if err := syscall.Kill(-c.PID, sig); err == nil || !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return syscall.Kill(c.PID, sig)
}

// stopProcess sends SIGTERM to c's process group, SIGKILL after c.StopTimeout (or at once if
// kill is set or ctx ends), and waits until the process is gone.
func stopProcess(ctx context.Context, logger logr.Logger, c *ComponentState, kill bool) error {
	if !alive(c) {
		c.PID = 0
		return nil
	}
	start := time.Now()
	if !kill {
		if err := signal(c, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("SIGTERM pid %d: %w", c.PID, err)
		}
		if waitGone(ctx, c, c.StopTimeout) {
			logger.V(1).Info("Process stopped", "component", c.Name, "pid", c.PID, "duration", time.Since(start).Round(time.Millisecond))
			c.PID = 0
			return nil
		}
		logger.Info("Process did not stop after SIGTERM, sending SIGKILL", "component", c.Name, "pid", c.PID, "timeout", c.StopTimeout)
	}
	if err := signal(c, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGKILL pid %d: %w", c.PID, err)
	}
	// Not bound by ctx: after SIGKILL the process goes away by itself, and callers want to know
	// that it did.
	if !waitGone(context.Background(), c, killTimeout) {
		return fmt.Errorf("pid %d still running %s after SIGKILL", c.PID, killTimeout)
	}
	logger.V(1).Info("Process killed", "component", c.Name, "pid", c.PID, "duration", time.Since(start).Round(time.Millisecond))
	c.PID = 0
	return nil
}

// waitGone polls until c's process is gone, the timeout passes or ctx ends.
func waitGone(ctx context.Context, c *ComponentState, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval / 2)
	defer tick.Stop()
	for {
		if !alive(c) {
			return true
		}
		select {
		case <-ctx.Done():
			return !alive(c)
		case <-deadline.C:
			return !alive(c)
		case <-tick.C:
		}
	}
}

// waitReady polls c.ReadyURL until it answers 200, the process exits or the timeout passes.
func waitReady(ctx context.Context, c *ComponentState, timeout time.Duration) error {
	if c.ReadyURL == "" {
		if !alive(c) {
			return fmt.Errorf("exited at once\n%s", logTail(c.Log))
		}
		return nil
	}
	client, err := probeClient(c.ReadyCA)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = probe(ctx, client, c.ReadyURL); last == nil {
			return nil
		}
		if !alive(c) {
			return fmt.Errorf("exited before it was ready\n%s", logTail(c.Log))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s (%s: %v)\n%s", timeout, c.ReadyURL, last, logTail(c.Log))
		case <-time.After(pollInterval):
		}
	}
}

func probeClient(caFile string) (*http.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		// Components that generate their own serving certificate.
		tlsConfig.InsecureSkipVerify = true //nolint:gosec // local readiness probe only
	} else {
		pemData, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read probe CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("read probe CA %s: no certificate", caFile)
		}
		tlsConfig.RootCAs = pool
	}
	return &http.Client{
		Timeout:   probeTimeout,
		Transport: &http.Transport{TLSClientConfig: tlsConfig, DisableKeepAlives: true},
	}, nil
}

func probe(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// logTail returns the last lines of a log file, for error messages.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	cut := false
	if fi, err := f.Stat(); err == nil && fi.Size() > logTailBytes {
		_, _ = f.Seek(fi.Size()-logTailBytes, io.SeekStart)
		cut = true
	}
	data, _ := io.ReadAll(f)
	if i := bytes.IndexByte(data, '\n'); cut && i >= 0 {
		data = data[i+1:] // a partial first line
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return fmt.Sprintf("--- last lines of %s ---\n%s", path, strings.Join(lines, "\n"))
}
