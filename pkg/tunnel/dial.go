package tunnel

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
)

// Transports a peer may pick; a DialResponse's router_endpoint serves both.
const (
	TransportGRPC = "grpc"
	TransportQUIC = "quic"
)

// Conn is a tunnel: a net.Conn whose write side can be closed alone, as TCP's.
type Conn interface {
	net.Conn
	// CloseWrite ends what this end sends (GOAWAY, or FIN over QUIC); reading goes on.
	CloseWrite() error
}

// Dial opens a tunnel over transport (TransportGRPC or TransportQUIC; empty means gRPC, the
// contract's).
func Dial(ctx context.Context, transport, endpoint, token string, tlsConfig *tls.Config) (Conn, error) {
	switch transport {
	case TransportGRPC, "":
		return DialGRPC(ctx, endpoint, token, tlsConfig)
	case TransportQUIC:
		return DialQUIC(ctx, endpoint, token, tlsConfig)
	default:
		return nil, fmt.Errorf("tunnel: transport %q: want %q or %q", transport, TransportGRPC, TransportQUIC)
	}
}
