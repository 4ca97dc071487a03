package tcp_test

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"jumpstarter.dev/service/pkg/drivers"
	"jumpstarter.dev/service/pkg/drivers/tcp"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config map[string]any
		err    string
	}{
		{"ok", map[string]any{"host": "127.0.0.1", "port": 22}, ""},
		{"no host", map[string]any{"port": 22}, "config.host: required"},
		{"no port", map[string]any{"host": "h"}, "config.port: 0, want 1 to 65535"},
		{"port too big", map[string]any{"host": "h", "port": 70000}, "config.port: 70000"},
		{"unknown key", map[string]any{"host": "h", "port": 1, "timeout": 3}, "config.timeout: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := tcp.New(tc.config)
			if tc.err == "" {
				if err != nil || d.Client() != tcp.Client {
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

func TestConnect(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := lis.Addr().(*net.TCPAddr).Port
	go func() {
		c, err := lis.Accept()
		if err == nil {
			_, _ = c.Write([]byte("hi"))
			c.Close()
		}
	}()
	d, err := tcp.New(map[string]any{"host": "127.0.0.1", "port": port})
	if err != nil {
		t.Fatal(err)
	}
	s := d.(drivers.Streamer)
	conn, err := s.OpenStream(t.Context(), "connect")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := conn.Read(buf); err != nil || string(buf) != "hi" {
		t.Errorf("read %q, %v", buf, err)
	}
	conn.Close()
	lis.Close()

	if _, err := s.OpenStream(t.Context(), "listen"); status.Code(err) != codes.NotFound {
		t.Errorf("OpenStream(listen): %v, want NOT_FOUND", err)
	}
	// Nothing listens there any more.
	d, _ = tcp.New(map[string]any{"host": "127.0.0.1", "port": port})
	if _, err := d.(drivers.Streamer).OpenStream(t.Context(), "connect"); status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Errorf("connect to a closed port: %v, want UNAVAILABLE naming the address", err)
	}
}
