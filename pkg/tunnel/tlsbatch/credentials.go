package tlsbatch

import (
	"context"
	"net"

	"google.golang.org/grpc/credentials"
)

// Credentials wraps a grpc-go client's transport credentials (TLS) so that each write of the
// transport, one flush of its write buffer, reaches the socket in one write.
func Credentials(tc credentials.TransportCredentials) credentials.TransportCredentials {
	return batchingCredentials{tc}
}

type batchingCredentials struct {
	credentials.TransportCredentials
}

func (b batchingCredentials) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	under := &Conn{Conn: raw}
	conn, info, err := b.TransportCredentials.ClientHandshake(ctx, authority, under)
	if err != nil {
		return nil, nil, err
	}
	return &batchingConn{Conn: conn, under: under}, info, nil
}

func (b batchingCredentials) Clone() credentials.TransportCredentials {
	return batchingCredentials{b.TransportCredentials.Clone()}
}

// batchingConn is the TLS connection: every Write is one batch of the socket under it.
type batchingConn struct {
	net.Conn
	under *Conn
}

func (c *batchingConn) Write(p []byte) (int, error) {
	c.under.Begin()
	n, err := c.Conn.Write(p)
	if ferr := c.under.Flush(); err == nil {
		err = ferr
	}
	return n, err
}
