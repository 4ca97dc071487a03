package shell

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"jumpstarter.dev/service/pkg/drivers"
)

// Type names of the driver.
const (
	TypeName     = "shell"
	UpstreamType = "jumpstarter_driver_shell.driver.Shell"
	// Client is the upstream client class.
	Client = "jumpstarter_driver_shell.client.ShellClient"
)

// Method names.
const (
	MethodGetMethods = "get_methods"
	MethodCall       = "call_method"
)

// Defaults of the upstream driver.
var defaultShell = []string{"bash", "-c"}

const (
	defaultTimeout = 300 * time.Second
	// TimeoutExitCode is the exit code reported when a call runs out of time (upstream's).
	TimeoutExitCode = 199
	// NotFoundExitCode is the exit code of an allow_any command that does not exist, as a
	// shell reports it.
	NotFoundExitCode = 127
)

// Config is the driver's `config:`.
type Config struct {
	// Methods maps a method name to its script: a string, or {command, description, timeout}.
	Methods map[string]json.RawMessage `json:"methods"`
	// Shell is the interpreter and its flag; the script follows it. Default [bash, -c].
	Shell []string `json:"shell"`
	// Timeout of a call in seconds; default 300.
	Timeout *int `json:"timeout"`
	// Cwd is the working directory of the commands; default the exporter's.
	Cwd string `json:"cwd"`
	// AllowAny runs a name that is not a method as a program, without a shell.
	AllowAny bool `json:"allow_any"`
}

// methodSpec is the long form of a method.
type methodSpec struct {
	Command     string `json:"command"`
	Description string `json:"description"`
	Timeout     *int   `json:"timeout"`
}

type method struct {
	command     string
	description string
	timeout     time.Duration
}

// Driver is a configured shell driver.
type Driver struct {
	methods  map[string]method
	shell    []string
	cwd      string
	allowAny bool
	timeout  time.Duration
}

var _ interface {
	drivers.Caller
	drivers.StreamingCaller
	drivers.MethodsDescriber
} = (*Driver)(nil)

// New is the driver's Factory.
func New(config map[string]any) (drivers.Driver, error) {
	var c Config
	if err := drivers.DecodeConfig(config, &c); err != nil {
		return nil, err
	}
	return newDriver(c)
}

func newDriver(c Config) (*Driver, error) {
	d := &Driver{shell: defaultShell, cwd: c.Cwd, allowAny: c.AllowAny, timeout: defaultTimeout, methods: map[string]method{}}
	if c.Shell != nil {
		if len(c.Shell) == 0 || c.Shell[0] == "" {
			return nil, errors.New("config.shell: want the interpreter and its flags, e.g. [bash, -c]")
		}
		d.shell = c.Shell
	}
	if c.Timeout != nil {
		t, err := seconds("config.timeout", *c.Timeout)
		if err != nil {
			return nil, err
		}
		d.timeout = t
	}
	for name, raw := range c.Methods {
		m, err := d.parseMethod(name, raw)
		if err != nil {
			return nil, err
		}
		d.methods[name] = m
	}
	return d, nil
}

func (d *Driver) parseMethod(name string, raw json.RawMessage) (method, error) {
	path := "config.methods." + name
	if name == "" || strings.HasPrefix(name, "_") {
		return method{}, fmt.Errorf("%s: a method name is not empty and does not start with _", path)
	}
	m := method{timeout: d.timeout}
	var script string
	if err := json.Unmarshal(raw, &script); err == nil {
		m.command = script
	} else {
		var spec methodSpec
		if err := strictUnmarshal(raw, &spec); err != nil {
			return method{}, fmt.Errorf("%s: want a script or {command, description, timeout}: %w", path, err)
		}
		m.command, m.description = spec.Command, spec.Description
		if spec.Timeout != nil {
			t, err := seconds(path+".timeout", *spec.Timeout)
			if err != nil {
				return method{}, err
			}
			m.timeout = t
		}
	}
	if strings.TrimSpace(m.command) == "" {
		return method{}, fmt.Errorf("%s: empty command", path)
	}
	return m, nil
}

func strictUnmarshal(raw json.RawMessage, dst any) error {
	var probe map[string]any
	if err := json.Unmarshal(raw, &probe); err != nil {
		return err
	}
	return drivers.DecodeConfig(probe, dst)
}

func seconds(path string, n int) (time.Duration, error) {
	if n <= 0 {
		return 0, fmt.Errorf("%s: %d, want a positive number of seconds", path, n)
	}
	return time.Duration(n) * time.Second, nil
}

// Client implements drivers.Driver.
func (d *Driver) Client() string { return Client }

// MethodsDescription implements drivers.MethodsDescriber: the descriptions of the long-form
// methods, as upstream.
func (d *Driver) MethodsDescription() map[string]string {
	out := map[string]string{}
	for name, m := range d.methods {
		if m.description != "" {
			out[name] = m.description
		}
	}
	return out
}

// Call implements drivers.Caller: get_methods, and call_method run to its end for the
// upstream clients that call it unary (before it streamed), returning [stdout, stderr, code].
func (d *Driver) Call(ctx context.Context, name string, args []any) (any, error) {
	switch name {
	case MethodGetMethods:
		if err := drivers.NoArgs(name, args); err != nil {
			return nil, err
		}
		names := d.methodNames()
		out := make([]any, len(names))
		for i, n := range names {
			out[i] = n
		}
		return out, nil
	case MethodCall:
		var stdout, stderr strings.Builder
		var code any
		err := d.StreamingCall(ctx, name, args, func(item any) error {
			chunk := item.([]any)
			stdout.WriteString(chunk[0].(string))
			stderr.WriteString(chunk[1].(string))
			code = chunk[2]
			return nil
		})
		if err != nil {
			return nil, err
		}
		return []any{stdout.String(), stderr.String(), code}, nil
	}
	return nil, drivers.MethodNotFound(name)
}

func (d *Driver) methodNames() []string {
	return slices.Sorted(maps.Keys(d.methods))
}

// StreamingCall implements drivers.StreamingCaller.
func (d *Driver) StreamingCall(ctx context.Context, name string, args []any, yield func(any) error) error {
	if name != MethodCall {
		return drivers.MethodNotFound(name)
	}
	req, err := d.parseCall(args)
	if err != nil {
		return err
	}
	return d.run(ctx, req, yield)
}

// call is one call_method request, checked.
type call struct {
	name    string
	argv    []string
	env     []string
	timeout time.Duration
	// direct is an allow_any command: a program run without a shell.
	direct bool
}

func (d *Driver) parseCall(args []any) (call, error) {
	name, err := drivers.StringArg(MethodCall, args, 0, "method")
	if err != nil {
		return call{}, err
	}
	c := call{name: name, timeout: d.timeout}
	if len(args) > 1 {
		if c.env, err = parseEnv(args[1]); err != nil {
			return call{}, err
		}
	}
	var rest []string
	for i := 2; i < len(args); i++ {
		s, err := drivers.StringArg(MethodCall, args, i, "args")
		if err != nil {
			return call{}, err
		}
		rest = append(rest, s)
	}
	if m, ok := d.methods[name]; ok {
		c.argv = append(append(slices.Clone(d.shell), m.command, name), rest...)
		c.timeout = m.timeout
		return c, nil
	}
	if d.allowAny && name != "" {
		c.argv = append([]string{name}, rest...)
		c.direct = true
		return c, nil
	}
	return call{}, drivers.InvalidArgument("Method %q not found in available methods: [%s]; this exporter runs only the methods of its shell driver config (config.methods), or any command if config.allow_any is true",
		name, strings.Join(d.methodNames(), ", "))
}

// identifier is what Python's str.isidentifier accepts, in ASCII.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// blockedEnv and blockedEnvPrefixes let a client hijack the process; upstream refuses them.
var (
	blockedEnv         = []string{"LD_PRELOAD", "LD_LIBRARY_PATH", "PATH", "PYTHONPATH", "BASH_ENV", "KUBECONFIG", "HOME"}
	blockedEnvPrefixes = []string{"LD_", "BASH_FUNC_"}
)

func parseEnv(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, drivers.InvalidArgument("%s: argument 2 (env): want a mapping of variable names to strings", MethodCall)
	}
	var env []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !identifier.MatchString(k) {
			return nil, drivers.InvalidArgument("Invalid environment variable name: %s", k)
		}
		if slices.Contains(blockedEnv, k) || slices.ContainsFunc(blockedEnvPrefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
			return nil, drivers.InvalidArgument("Environment variable '%s' is blocked for security reasons", k)
		}
		s, ok := m[k].(string)
		if !ok {
			return nil, drivers.InvalidArgument("environment variable %s: want a string value", k)
		}
		env = append(env, k+"="+s)
	}
	return env, nil
}
