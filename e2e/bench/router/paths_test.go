package routerbench

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"testing"

	"jumpstarter.dev/service/pkg/tunnel"
)

// conn is one end of a path: what every measurement needs.
type conn interface {
	io.ReadWriter
	CloseWrite() error
	Close() error
}

// path opens connections whose far end runs serveFar.
type path struct {
	name string
	open func(ctx context.Context) (conn, error)
}

// tcpPath is TLS over loopback TCP to the far-end process.
func tcpPath(endpoint string, p *pki) path {
	return path{name: "tcp", open: func(ctx context.Context) (conn, error) {
		c, err := (&tls.Dialer{Config: p.clientTLS}).DialContext(ctx, "tcp", endpoint)
		if err != nil {
			return nil, err
		}
		return c.(*tls.Conn), nil
	}}
}

// directPath is our gRPC dialer to the far-end process, which serves the stream itself.
func directPath(endpoint string, p *pki) path {
	return path{name: "direct-grpc", open: func(ctx context.Context) (conn, error) {
		return tunnel.DialGRPC(ctx, endpoint, "direct", p.clientTLS)
	}}
}

// exporterEnd dials a tunnel's exporter end through the router at endpoint and serves it as
// the far end.
type exporterEnd func(ctx context.Context, transport, endpoint, token string) error

// exporterHere is the exporter end in this process.
func exporterHere(p *pki) exporterEnd {
	return func(ctx context.Context, transport, endpoint, token string) error {
		far, err := tunnel.Dial(ctx, transport, endpoint, token, p.clientTLS)
		if err != nil {
			return err
		}
		go serveFar(far)
		return nil
	}
}

// exporterInHelper is the exporter end in the far-end helper listening on dialAddr (dialFar).
func exporterInHelper(dialAddr string) exporterEnd {
	return func(ctx context.Context, transport, endpoint, token string) error {
		return dialFar(ctx, dialAddr, transport, endpoint, token)
	}
}

// routedPath dials both ends through a router: the far end (the exporter) first, where
// exporter puts it, then the near end here.
func routedPath(name, transport, endpoint string, exporter exporterEnd, p *pki, b *testing.B) path {
	return path{name: name, open: func(ctx context.Context) (conn, error) {
		tok := p.token(b)
		if err := exporter(ctx, transport, endpoint, tok); err != nil {
			return nil, fmt.Errorf("exporter end: %w", err)
		}
		a, err := tunnel.Dial(ctx, transport, endpoint, tok, p.clientTLS)
		if err != nil {
			return nil, fmt.Errorf("client end: %w", err)
		}
		return a, nil
	}}
}

// routedPair opens both ends of one tunnel through a router, here.
func routedPair(ctx context.Context, transport, endpoint string, p *pki, b *testing.B) (client, exporter tunnel.Conn, err error) {
	tok := p.token(b)
	exporter, err = tunnel.Dial(ctx, transport, endpoint, tok, p.clientTLS)
	if err != nil {
		return nil, nil, fmt.Errorf("exporter end: %w", err)
	}
	client, err = tunnel.Dial(ctx, transport, endpoint, tok, p.clientTLS)
	if err != nil {
		_ = exporter.Close()
		return nil, nil, fmt.Errorf("client end: %w", err)
	}
	return client, exporter, nil
}
