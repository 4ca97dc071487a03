package tunnel

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestDialArguments(t *testing.T) {
	ctx := context.Background()
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	tests := []struct {
		name                       string
		transport, endpoint, token string
		tls                        *tls.Config
		want                       string
	}{
		{"unknown transport", "carrier-pigeon", "127.0.0.1:1", "t", tlsConfig, "transport"},
		{"no endpoint", TransportGRPC, "", "t", tlsConfig, "endpoint"},
		{"no token", TransportQUIC, "127.0.0.1:1", "", tlsConfig, "token"},
		{"no TLS over gRPC", TransportGRPC, "127.0.0.1:1", "t", nil, "TLS"},
		{"no TLS over QUIC", TransportQUIC, "127.0.0.1:1", "t", nil, "TLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Dial(ctx, tt.transport, tt.endpoint, tt.token, tt.tls); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Dial = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestDialUnreachable(t *testing.T) {
	// A port nobody listens on, TCP and UDP.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	for _, tr := range []string{TransportGRPC, TransportQUIC} {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			_, err := Dial(ctx, tr, addr, "token", &tls.Config{MinVersion: tls.VersionTLS12})
			if !errors.Is(err, ErrUnreachable) {
				t.Errorf("Dial = %v, want ErrUnreachable", err)
			}
		})
	}
}
