package exporter_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"jumpstarter.dev/service/pkg/exporter"
)

func TestConfigTransport(t *testing.T) {
	for _, tc := range []struct {
		name, file, want, err string
	}{
		{"absent", "kind: ExporterConfig\n", "", ""},
		{"grpc", "transport: grpc\n", "grpc", ""},
		{"quic", "transport: quic\n", "quic", ""},
		{"other", "transport: tcp\n", "", `transport: "tcp", want grpc or quic`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "exporter.yaml")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := exporter.ConfigTransport(path)
			if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("ConfigTransport = %q, %v; want %q, %q", got, err, tc.want, tc.err)
			}
		})
	}
}
