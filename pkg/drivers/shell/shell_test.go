package shell_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"jumpstarter.dev/service/pkg/drivers"
	"jumpstarter.dev/service/pkg/drivers/shell"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config map[string]any
		err    string
	}{
		{"no methods", nil, ""},
		{"both forms", map[string]any{"methods": map[string]any{"a": "ls", "b": map[string]any{"command": "ls", "description": "d", "timeout": 5}}}, ""},
		{"empty command", map[string]any{"methods": map[string]any{"a": " "}}, "config.methods.a: empty command"},
		{"private name", map[string]any{"methods": map[string]any{"_a": "ls"}}, "config.methods._a: a method name"},
		{"long form unknown key", map[string]any{"methods": map[string]any{"a": map[string]any{"cmd": "ls"}}}, "config.methods.a: want a script or {command, description, timeout}: config.cmd: unknown key"},
		{"bad method timeout", map[string]any{"methods": map[string]any{"a": map[string]any{"command": "ls", "timeout": -1}}}, "config.methods.a.timeout: -1"},
		{"bad timeout", map[string]any{"timeout": 0}, "config.timeout: 0"},
		{"empty shell", map[string]any{"shell": []any{}}, "config.shell"},
		{"unknown key", map[string]any{"allow": true}, "config.allow: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := shell.New(tc.config)
			if tc.err == "" {
				if err != nil || d.Client() != shell.Client {
					t.Fatalf("New = %v, %v", d, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("New: %v, want %q", err, tc.err)
			}
		})
	}
}

func newShell(t *testing.T, config map[string]any) drivers.Driver {
	t.Helper()
	d, err := shell.New(config)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// result is what a call_method yielded, joined.
type result struct {
	stdout, stderr string
	code           any
	items          int
}

func call(ctx context.Context, d drivers.Driver, args ...any) (result, error) {
	var r result
	err := d.(drivers.StreamingCaller).StreamingCall(ctx, shell.MethodCall, args, func(v any) error {
		item := v.([]any)
		r.stdout += item[0].(string)
		r.stderr += item[1].(string)
		r.code = item[2]
		r.items++
		return nil
	})
	return r, err
}

func TestGetMethods(t *testing.T) {
	d := newShell(t, map[string]any{"methods": map[string]any{"b": "x", "a": map[string]any{"command": "y", "description": "the a"}}})
	got, err := d.(drivers.Caller).Call(t.Context(), shell.MethodGetMethods, nil)
	if err != nil || fmt.Sprint(got) != "[a b]" {
		t.Errorf("get_methods = %v, %v", got, err)
	}
	if desc := d.(drivers.MethodsDescriber).MethodsDescription(); len(desc) != 1 || desc["a"] != "the a" {
		t.Errorf("methods description %v", desc)
	}
}

func TestCallMethod(t *testing.T) {
	d := newShell(t, map[string]any{
		"shell": []any{"sh", "-c"},
		"methods": map[string]any{
			"args":   `printf '%s|' "$0" "$@"`,
			"env":    `printf '%s' "$GREETING"`,
			"fail":   "echo out; echo err >&2; exit 3",
			"killed": "kill -9 $$",
			"slow":   map[string]any{"command": "echo started; sleep 10", "timeout": 1},
			"utf8":   `printf 'caf\303'; sleep 0.1; printf '\251 \377\n'`,
		},
	})
	for _, tc := range []struct {
		name string
		args []any
		want result
		code codes.Code
		err  string
	}{
		{name: "args are positional, never spliced", args: []any{"args", nil, "a b", "$(id)"}, want: result{stdout: "args|a b|$(id)|", code: 0}},
		{name: "env", args: []any{"env", map[string]any{"GREETING": "hi"}}, want: result{stdout: "hi", code: 0}},
		{name: "exit code", args: []any{"fail", map[string]any{}}, want: result{stdout: "out\n", stderr: "err\n", code: 3}},
		{name: "killed by a signal", args: []any{"killed"}, want: result{code: 137}},
		{name: "timeout", args: []any{"slow"}, want: result{stdout: "started\n", stderr: "\nTimeout expired while running slow: timed out after 1s\n", code: 199}},
		{name: "utf-8 across writes", args: []any{"utf8"}, want: result{stdout: "café \uFFFD\n", code: 0}},
		{name: "not allowed", args: []any{"ls"}, code: codes.InvalidArgument, err: `Method "ls" not found in available methods: [args, env, fail, killed, slow, utf8]`},
		{name: "blocked env", args: []any{"env", map[string]any{"LD_PRELOAD": "x"}}, code: codes.InvalidArgument, err: "Environment variable 'LD_PRELOAD' is blocked"},
		{name: "PATH blocked", args: []any{"env", map[string]any{"PATH": "/tmp"}}, code: codes.InvalidArgument, err: "'PATH' is blocked"},
		{name: "bad env name", args: []any{"env", map[string]any{"A-B": "x"}}, code: codes.InvalidArgument, err: "Invalid environment variable name: A-B"},
		{name: "env not a mapping", args: []any{"env", "x"}, code: codes.InvalidArgument, err: "argument 2 (env)"},
		{name: "argument not a string", args: []any{"args", nil, 1.0}, code: codes.InvalidArgument, err: "argument 3 (args): want a string, got a number"},
		{name: "no method", args: nil, code: codes.InvalidArgument, err: "missing argument 1 (method)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := call(t.Context(), d, tc.args...)
			if tc.code != codes.OK {
				if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("call_method: %v, want %s %q", err, tc.code, tc.err)
				}
				return
			}
			got.items = 0
			if err != nil || got != tc.want {
				t.Fatalf("call_method = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestUnaryCallMethod(t *testing.T) {
	d := newShell(t, map[string]any{"methods": map[string]any{"fail": "echo out; echo err >&2; exit 3"}})
	got, err := d.(drivers.Caller).Call(t.Context(), shell.MethodCall, []any{"fail", map[string]any{}})
	if err != nil || fmt.Sprint(got) != "[out\n err\n 3]" {
		t.Errorf("call_method (unary) = %q, %v", got, err)
	}
}

func TestOutputStreams(t *testing.T) {
	d := newShell(t, map[string]any{"methods": map[string]any{"two": "echo one; sleep 0.5; echo two"}})
	start := time.Now()
	var firstAt time.Duration
	err := d.(drivers.StreamingCaller).StreamingCall(t.Context(), shell.MethodCall, []any{"two"}, func(v any) error {
		if firstAt == 0 {
			firstAt = time.Since(start)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total := time.Since(start); firstAt > total/2 {
		t.Errorf("first output after %s of %s: output is not streamed", firstAt, total)
	}
}

func TestAllowAny(t *testing.T) {
	off := newShell(t, nil)
	if _, err := call(t.Context(), off, "true"); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "config.allow_any") {
		t.Errorf("without allow_any: %v, want INVALID_ARGUMENT pointing at config.allow_any", err)
	}
	on := newShell(t, map[string]any{"allow_any": true, "cwd": t.TempDir()})
	got, err := call(t.Context(), on, "sh", nil, "-c", `pwd >/dev/null; echo "$1"`, "sh", "*")
	if err != nil || got.stdout != "*\n" || got.code != 0 {
		t.Errorf("allow_any sh -c = %+v, %v", got, err)
	}
	got, err = call(t.Context(), on, "/no/such/program")
	if err != nil || got.code != 127 || got.stderr != "/no/such/program: command not found\n" {
		t.Errorf("missing program = %+v, %v; want 127", got, err)
	}
	gone := newShell(t, map[string]any{"allow_any": true, "cwd": "/no/such/dir"})
	if _, err := call(t.Context(), gone, "true"); status.Code(err) != codes.InvalidArgument {
		t.Errorf("missing cwd: %v, want INVALID_ARGUMENT", err)
	}
}

func TestCancelKillsTheProcessGroup(t *testing.T) {
	d := newShell(t, map[string]any{"methods": map[string]any{"hang": "sleep 30 & sleep 30"}})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := call(ctx, d, "hang")
	if err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("call_method after cancel: %v after %s, want the context's error at once", err, time.Since(start))
	}
}
