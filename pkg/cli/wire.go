package cli

import (
	"context"
	"crypto/tls"
	"net"

	"jumpstarter.dev/service/pkg/cli/session"
	"jumpstarter.dev/service/pkg/driverclient"
	"jumpstarter.dev/service/pkg/tunnel"
)

// DefaultSessionDeps are the tunnel and the driver client jmpctl uses: pkg/tunnel and
// pkg/driverclient, the only place the commands meet them.
func DefaultSessionDeps() session.Deps {
	return session.Deps{
		Tunnel: session.TunnelDialerFunc(func(ctx context.Context, transport, endpoint, token string, tlsConfig *tls.Config) (net.Conn, error) {
			return tunnel.Dial(ctx, transport, endpoint, token, tlsConfig)
		}),
		OpenDrivers: openDrivers,
	}
}

func openDrivers(_ context.Context, conn net.Conn) (session.Drivers, error) {
	c, err := driverclient.New(conn)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// The driver client is what the commands need of one.
var _ session.Drivers = (*driverclient.Client)(nil)
