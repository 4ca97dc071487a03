package serial_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"jumpstarter.dev/service/pkg/drivers/serial"
)

func TestNew(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "ttyNone")
	for _, tc := range []struct {
		name   string
		config map[string]any
		err    string
	}{
		{"ok", map[string]any{"url": os.DevNull, "baudrate": 9600}, ""},
		{"path alias", map[string]any{"path": os.DevNull}, ""},
		{"missing but not checked", map[string]any{"url": missing, "check_present": false}, ""},
		{"missing", map[string]any{"url": missing}, "config.url: device not present"},
		{"no device", map[string]any{}, "config.url: required"},
		{"both", map[string]any{"url": os.DevNull, "path": os.DevNull}, "set one of them"},
		{"pyserial url", map[string]any{"url": "rfc2217://host:1"}, "only device paths are supported"},
		{"odd speed", map[string]any{"url": os.DevNull, "baudrate": 12345}, "config.baudrate: 12345 is not a supported speed (1200, 2400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := serial.New(tc.config)
			if tc.err == "" {
				if err != nil || d.Client() != serial.Client {
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
