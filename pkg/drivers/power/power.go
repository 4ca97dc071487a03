package power

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"jumpstarter.dev/service/pkg/drivers"
)

// Type name and client class of the driver. No upstream driver runs commands, so there is no
// upstream type name to stand in for.
const (
	TypeName = "power"
	Client   = "jumpstarter_driver_power.client.PowerClient"
)

// Method names.
const (
	MethodOn    = "on"
	MethodOff   = "off"
	MethodRead  = "read"
	MethodCycle = "cycle"
)

const (
	defaultTimeout   = 30 * time.Second
	defaultCycleWait = 2 * time.Second
	// stderrTail is how much of a failed command's stderr its error carries.
	stderrTail = 512
)

var defaultShell = []string{"sh", "-c"}

// Config is the driver's `config:`.
type Config struct {
	On        string   `json:"on"`
	Off       string   `json:"off"`
	Read      string   `json:"read"`
	Shell     []string `json:"shell"`
	Timeout   *int     `json:"timeout"`
	CycleWait *float64 `json:"cycle_wait"`
}

// Driver is a configured power driver.
type Driver struct {
	on, off, read string
	shell         []string
	timeout       time.Duration
	cycleWait     time.Duration
}

var _ interface {
	drivers.Caller
	drivers.StreamingCaller
} = (*Driver)(nil)

// New is the driver's Factory.
func New(config map[string]any) (drivers.Driver, error) {
	var c Config
	if err := drivers.DecodeConfig(config, &c); err != nil {
		return nil, err
	}
	d := &Driver{on: c.On, off: c.Off, read: c.Read, shell: defaultShell, timeout: defaultTimeout, cycleWait: defaultCycleWait}
	if strings.TrimSpace(c.On) == "" {
		return nil, errors.New("config.on: required, the command that powers the device on")
	}
	if strings.TrimSpace(c.Off) == "" {
		return nil, errors.New("config.off: required, the command that powers the device off")
	}
	if c.Shell != nil {
		if len(c.Shell) == 0 || c.Shell[0] == "" {
			return nil, errors.New("config.shell: want the interpreter and its flags, e.g. [sh, -c]")
		}
		d.shell = c.Shell
	}
	if c.Timeout != nil {
		if *c.Timeout <= 0 {
			return nil, fmt.Errorf("config.timeout: %d, want a positive number of seconds", *c.Timeout)
		}
		d.timeout = time.Duration(*c.Timeout) * time.Second
	}
	if c.CycleWait != nil {
		if *c.CycleWait < 0 {
			return nil, fmt.Errorf("config.cycle_wait: %v, want seconds, not negative", *c.CycleWait)
		}
		d.cycleWait = time.Duration(*c.CycleWait * float64(time.Second))
	}
	return d, nil
}

// Client implements drivers.Driver.
func (d *Driver) Client() string { return Client }

// Call implements drivers.Caller.
func (d *Driver) Call(ctx context.Context, method string, args []any) (any, error) {
	switch method {
	case MethodOn, MethodOff:
		if err := drivers.NoArgs(method, args); err != nil {
			return nil, err
		}
		return "ok", d.switchTo(ctx, method)
	case MethodCycle:
		wait := d.cycleWait
		if len(args) > 1 {
			return nil, drivers.InvalidArgument("cycle: takes at most one argument (wait seconds), got %d", len(args))
		}
		if len(args) == 1 {
			s, ok := args[0].(float64)
			if !ok || s < 0 {
				return nil, drivers.InvalidArgument("cycle: argument 1 (wait): want seconds, not negative")
			}
			wait = time.Duration(s * float64(time.Second))
		}
		if err := d.switchTo(ctx, MethodOff); err != nil {
			return nil, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return "ok", d.switchTo(ctx, MethodOn)
	}
	return nil, drivers.MethodNotFound(method)
}

func (d *Driver) switchTo(ctx context.Context, method string) error {
	command := d.on
	if method == MethodOff {
		command = d.off
	}
	klog.FromContext(ctx).V(1).Info("Power", "action", method)
	_, err := d.runCommand(ctx, method, command)
	return err
}

// StreamingCall implements drivers.StreamingCaller.
func (d *Driver) StreamingCall(ctx context.Context, method string, args []any, yield func(any) error) error {
	if method != MethodRead {
		return drivers.MethodNotFound(method)
	}
	if err := drivers.NoArgs(method, args); err != nil {
		return err
	}
	if d.read == "" {
		return drivers.Unimplemented("read: this power driver has no read command (config.read)")
	}
	out, err := d.runCommand(ctx, method, d.read)
	if err != nil {
		return err
	}
	voltage, current, err := parseReading(out)
	if err != nil {
		return fmt.Errorf("read: output of %q: %w", d.read, err)
	}
	return yield(map[string]any{"voltage": voltage, "current": current})
}

// parseReading accepts "<voltage> <current>" or {"voltage": v, "current": c}.
func parseReading(out []byte) (voltage, current float64, err error) {
	text := strings.TrimSpace(string(out))
	if strings.HasPrefix(text, "{") {
		var r struct {
			Voltage *float64 `json:"voltage"`
			Current *float64 `json:"current"`
		}
		if err := json.Unmarshal([]byte(text), &r); err != nil {
			return 0, 0, err
		}
		if r.Voltage == nil || r.Current == nil {
			return 0, 0, errors.New(`want {"voltage": <volts>, "current": <amps>}`)
		}
		return *r.Voltage, *r.Current, nil
	}
	fields := strings.Fields(text)
	if len(fields) != 2 {
		return 0, 0, fmt.Errorf(`got %q, want "<volts> <amps>"`, text)
	}
	if voltage, err = strconv.ParseFloat(fields[0], 64); err == nil {
		current, err = strconv.ParseFloat(fields[1], 64)
	}
	if err != nil {
		return 0, 0, fmt.Errorf(`got %q, want "<volts> <amps>": %w`, text, err)
	}
	return voltage, current, nil
}

// runCommand runs command with the driver's shell and timeout and returns its stdout.
func (d *Driver) runCommand(ctx context.Context, method, command string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	argv := append(append([]string{}, d.shell...), command)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The command may be a pipeline: end its whole process group.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tail := strings.TrimSpace(stderr.String())
		if len(tail) > stderrTail {
			tail = "..." + tail[len(tail)-stderrTail:]
		}
		if ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("timed out after %s", d.timeout)
		}
		if tail != "" {
			return nil, fmt.Errorf("power %s: command %q: %w: %s", method, command, err, tail)
		}
		return nil, fmt.Errorf("power %s: command %q: %w", method, command, err)
	}
	return stdout.Bytes(), nil
}
