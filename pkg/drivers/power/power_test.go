package power_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"jumpstarter.dev/service/pkg/drivers"
	"jumpstarter.dev/service/pkg/drivers/power"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config map[string]any
		err    string
	}{
		{"no on", map[string]any{"off": "x"}, "config.on: required"},
		{"no off", map[string]any{"on": "x"}, "config.off: required"},
		{"bad timeout", map[string]any{"on": "x", "off": "x", "timeout": 0}, "config.timeout: 0"},
		{"empty shell", map[string]any{"on": "x", "off": "x", "shell": []any{}}, "config.shell"},
		{"unknown key", map[string]any{"on": "x", "off": "x", "cycle": "x"}, "config.cycle: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := power.New(tc.config); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("New: %v, want %q", err, tc.err)
			}
		})
	}
}

func TestCalls(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	d, err := power.New(map[string]any{
		"on":         "echo on >> " + log,
		"off":        "echo off >> " + log,
		"read":       `echo '{"voltage": 12, "current": 1.5}'`,
		"cycle_wait": 0.01,
	})
	if err != nil {
		t.Fatal(err)
	}
	c := d.(drivers.Caller)
	for _, m := range []string{"on", "off", "cycle"} {
		if res, err := c.Call(t.Context(), m, nil); err != nil || res != "ok" {
			t.Fatalf("%s = %v, %v", m, res, err)
		}
	}
	if data, _ := os.ReadFile(log); string(data) != "on\noff\noff\non\n" {
		t.Errorf("commands ran %q", data)
	}
	if _, err := c.Call(t.Context(), "rescue", nil); status.Code(err) != codes.NotFound {
		t.Errorf("rescue: %v, want NOT_FOUND", err)
	}
	if _, err := c.Call(t.Context(), "on", []any{"x"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("on(x): %v, want INVALID_ARGUMENT", err)
	}
	var got []any
	err = d.(drivers.StreamingCaller).StreamingCall(t.Context(), "read", nil, func(v any) error { got = append(got, v); return nil })
	if err != nil || fmt.Sprint(got) != "[map[current:1.5 voltage:12]]" {
		t.Errorf("read = %v, %v", got, err)
	}
}

func TestFailures(t *testing.T) {
	d, err := power.New(map[string]any{"on": "echo relay jammed >&2; exit 4", "off": "sleep 5", "timeout": 1, "read": "echo nonsense"})
	if err != nil {
		t.Fatal(err)
	}
	c := d.(drivers.Caller)
	if _, err := c.Call(t.Context(), "on", nil); err == nil || !strings.Contains(err.Error(), "exit status 4: relay jammed") {
		t.Errorf("on: %v, want the exit status and stderr", err)
	}
	if _, err := c.Call(t.Context(), "off", nil); err == nil || !strings.Contains(err.Error(), "timed out after 1s") {
		t.Errorf("off: %v, want a timeout", err)
	}
	err = d.(drivers.StreamingCaller).StreamingCall(t.Context(), "read", nil, func(any) error { return nil })
	if err == nil || !strings.Contains(err.Error(), `want "<volts> <amps>"`) {
		t.Errorf("read: %v, want a parse error", err)
	}
	noRead, _ := power.New(map[string]any{"on": "true", "off": "true"})
	err = noRead.(drivers.StreamingCaller).StreamingCall(t.Context(), "read", nil, func(any) error { return nil })
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("read without a command: %v, want UNIMPLEMENTED", err)
	}
}
