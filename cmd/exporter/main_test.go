package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"jumpstarter.dev/service/pkg/clientconfig"
)

func TestDialer(t *testing.T) {
	for _, tc := range []struct{ transport, err string }{
		{"", ""},
		{"grpc", ""},
		{"quic", ""},
		{"udp", `--transport "udp": want grpc or quic`},
	} {
		d, err := dialer(tc.transport, clientconfig.TLS{})
		if tc.err == "" && (err != nil || d == nil) || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("dialer(%q) = %v, %v; want error %q", tc.transport, d != nil, err, tc.err)
		}
	}
}

func TestRunRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	cfg := clientconfig.NewExporterConfig("lab", "board1")
	cfg.Endpoint, cfg.Token = "127.0.0.1:1", "t"
	cfg.Export = clientconfig.DriverInstances{{Name: "ssh", Instance: clientconfig.DriverInstance{Type: "tcp"}}}
	bad := filepath.Join(dir, "bad.yaml")
	if err := cfg.Save(bad); err != nil {
		t.Fatal(err)
	}
	udp := filepath.Join(dir, "udp.yaml")
	data, _ := os.ReadFile(bad)
	if err := os.WriteFile(udp, append(data, "transport: udp\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, config, transport, err string }{
		{"no config", "", "", "--config: required"},
		{"missing file", filepath.Join(dir, "none.yaml"), "", "no such file"},
		{"transport from the file", udp, "", `transport: "udp", want grpc or quic`},
		{"flag over the file", udp, "grpc", "export.ssh: config.host: required"},
		{"bad transport flag", bad, "tcp", `--transport "tcp": want grpc or quic`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := run(t.Context(), tc.config, tc.transport); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("run: %v, want %q", err, tc.err)
			}
		})
	}
}
