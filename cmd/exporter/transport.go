package main

import (
	"context"
	"fmt"
	"net"

	"jumpstarter.dev/service/pkg/clientconfig"
	"jumpstarter.dev/service/pkg/exporter"
	"jumpstarter.dev/service/pkg/tunnel"
)

// dialer is the tunnel Dialer of a transport (package tunnel): how the agent reaches the
// router for each Listen ticket, trusting what the config's tls block says.
func dialer(transport string, trust clientconfig.TLS) (exporter.Dialer, error) {
	switch transport {
	case "", tunnel.TransportGRPC, tunnel.TransportQUIC:
	default:
		return nil, fmt.Errorf("--transport %q: want %s or %s", transport, tunnel.TransportGRPC, tunnel.TransportQUIC)
	}
	return func(ctx context.Context, endpoint, token string) (net.Conn, error) {
		tlsConfig, err := exporter.ClientTLSConfig(trust, endpoint)
		if err != nil {
			return nil, err
		}
		return tunnel.Dial(ctx, transport, endpoint, token, tlsConfig)
	}, nil
}
