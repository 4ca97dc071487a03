package drivers_test

import (
	"strings"
	"testing"

	"jumpstarter.dev/service/pkg/drivers"
)

func TestRegistry(t *testing.T) {
	r := drivers.NewRegistry()
	if err := r.Register(drivers.NewComposite, "composite", "upstream.Composite"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		names []string
		want  string
	}{
		{"duplicate", []string{"composite"}, `register driver "composite": already registered`},
		{"no names", nil, "at least one type name"},
		{"empty name", []string{""}, "empty type name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := r.Register(drivers.NewComposite, tc.names...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Register: %v, want %q", err, tc.want)
			}
		})
	}
	if d, err := r.New("upstream.Composite", nil); err != nil || d.Client() != drivers.CompositeClient {
		t.Errorf("New(upstream.Composite) = %v, %v", d, err)
	}
	if _, err := r.New("nope", nil); err == nil || err.Error() != `unknown driver type "nope" (known: composite, upstream.Composite)` {
		t.Errorf("New(nope): %v, want the known types listed", err)
	}
}

func TestDecodeConfig(t *testing.T) {
	type cfg struct {
		Host string `json:"host"`
		Port int    `json:"port"`
	}
	for _, tc := range []struct {
		name   string
		config map[string]any
		want   cfg
		err    string
	}{
		{name: "values", config: map[string]any{"host": "h", "port": 22}, want: cfg{"h", 22}},
		{name: "nil", config: nil},
		{name: "base keys ignored", config: map[string]any{"host": "h", "log_level": "DEBUG"}, want: cfg{Host: "h"}},
		{name: "unknown key", config: map[string]any{"hots": "h"}, err: "config.hots: unknown key"},
		{name: "wrong type", config: map[string]any{"port": "22"}, err: "config.port: want int, got a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got cfg
			err := drivers.DecodeConfig(tc.config, &got)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("DecodeConfig: %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("DecodeConfig = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	if err := drivers.NoArgs("on", []any{1.0}); err == nil || err.Error() != "rpc error: code = InvalidArgument desc = on: takes no arguments, got 1" {
		t.Errorf("NoArgs: %v", err)
	}
	if _, err := drivers.StringArg("m", []any{1.0}, 0, "name"); err == nil || !strings.Contains(err.Error(), "m: argument 1 (name): want a string, got a number") {
		t.Errorf("StringArg: %v", err)
	}
	if s, err := drivers.StringArg("m", []any{"x"}, 0, "name"); err != nil || s != "x" {
		t.Errorf("StringArg = %q, %v", s, err)
	}
}
