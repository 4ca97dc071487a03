package tunnel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"jumpstarter.dev/service/pkg/tunnel/wire"
)

// QUICConfig is the QUIC configuration of a tunnel's peer: windows of package wire,
// keepalives that hold an idle tunnel open, and no streams from the router.
func QUICConfig() *quic.Config { return wire.QUICConfig(-1) }

// DialQUIC opens a tunnel through the router at endpoint (host:port, UDP) over QUIC, with
// token in the opening header. It returns once the router has accepted the token; ctx bounds
// only the dial, not the tunnel.
func DialQUIC(ctx context.Context, endpoint, token string, tlsConfig *tls.Config) (Conn, error) {
	if endpoint == "" || token == "" {
		return nil, errors.New("tunnel: dial needs a router endpoint and a token")
	}
	if tlsConfig == nil {
		return nil, errors.New("tunnel: dial needs a TLS configuration (routers only speak TLS)")
	}
	header, err := wire.AppendHeader(nil, token)
	if err != nil {
		return nil, fmt.Errorf("tunnel: %w", err)
	}
	tc := tlsConfig.Clone()
	tc.NextProtos = []string{wire.ALPN}
	qc, err := quic.DialAddr(ctx, endpoint, tc, QUICConfig())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, endpoint, err)
	}
	fail := func(err error) (Conn, error) {
		_ = qc.CloseWithError(quic.ApplicationErrorCode(wire.CodeAborted), "dial failed")
		return nil, err
	}
	st, err := qc.OpenStreamSync(ctx)
	if err != nil {
		return fail(fmt.Errorf("%w: %s: open stream: %w", ErrUnreachable, endpoint, quicError(err)))
	}
	if _, err := st.Write(header); err != nil {
		return fail(fmt.Errorf("dial router %s: %w", endpoint, quicError(err)))
	}
	stop := context.AfterFunc(ctx, func() { st.CancelRead(quic.StreamErrorCode(wire.CodeAborted)) })
	code, msg, err := wire.ReadStatus(st)
	if !stop() {
		return fail(fmt.Errorf("%w: %s: %w", ErrUnreachable, endpoint, context.Cause(ctx)))
	}
	switch {
	case err != nil:
		return fail(fmt.Errorf("dial router %s: %w", endpoint, quicError(err)))
	case code != wire.CodeOK:
		return fail(fmt.Errorf("dial router %s: %w", endpoint, codeError(code, msg)))
	}
	return &quicConn{conn: qc, stream: st, addr: tunnelAddr{network: "jumpstarter+quic", endpoint: endpoint}}, nil
}

// quicError maps what quic-go returns when the router closes or resets: the router closes a
// tunnel's connection with the tunnel code as the application error code.
func quicError(err error) error {
	var appErr *quic.ApplicationError
	if errors.As(err, &appErr) && appErr.Remote {
		if appErr.ErrorCode == quic.ApplicationErrorCode(wire.CodeOK) {
			return fmt.Errorf("%w: the router closed the tunnel", ErrAborted)
		}
		return codeError(wire.Code(appErr.ErrorCode), appErr.ErrorMessage)
	}
	var streamErr *quic.StreamError
	if errors.As(err, &streamErr) && streamErr.Remote {
		return codeError(wire.Code(streamErr.ErrorCode), "")
	}
	var idle *quic.IdleTimeoutError
	if errors.As(err, &idle) {
		return fmt.Errorf("%w: connection lost: %v", ErrUnreachable, err)
	}
	return err
}

// quicConn is a tunnel over a QUIC stream.
type quicConn struct {
	conn   *quic.Conn
	stream *quic.Stream
	addr   tunnelAddr

	readEOF     atomic.Bool
	writeClosed atomic.Bool
	closeOnce   sync.Once
}

var _ Conn = (*quicConn)(nil)

func (c *quicConn) Read(p []byte) (int, error) {
	n, err := c.stream.Read(p)
	if err == io.EOF {
		c.readEOF.Store(true)
		return n, io.EOF
	}
	if err != nil {
		return n, quicError(err)
	}
	return n, nil
}

func (c *quicConn) Write(p []byte) (int, error) {
	n, err := c.stream.Write(p)
	if err != nil {
		return n, quicError(err)
	}
	return n, nil
}

// CloseWrite sends FIN: the other end reads io.EOF after what was written.
func (c *quicConn) CloseWrite() error {
	c.writeClosed.Store(true)
	return c.stream.Close()
}

// Close ends the tunnel. After CloseWrite and io.EOF it waits (at most wire.CloseLinger) until
// the router has finished the stream, which it signals by allowing a next stream (it allows
// one at a time) or by closing the connection: only then has every byte we wrote arrived.
// Otherwise it aborts.
func (c *quicConn) Close() error {
	c.closeOnce.Do(func() {
		if !c.writeClosed.Load() || !c.readEOF.Load() {
			c.stream.CancelRead(quic.StreamErrorCode(wire.CodeAborted))
			c.stream.CancelWrite(quic.StreamErrorCode(wire.CodeAborted))
			_ = c.conn.CloseWithError(quic.ApplicationErrorCode(wire.CodeAborted), "peer closed the tunnel")
			return
		}
		ctx, cancel := context.WithTimeout(c.conn.Context(), wire.CloseLinger)
		defer cancel()
		if next, err := c.conn.OpenStreamSync(ctx); err == nil {
			next.CancelWrite(quic.StreamErrorCode(wire.CodeOK))
		}
		_ = c.conn.CloseWithError(quic.ApplicationErrorCode(wire.CodeOK), "")
	})
	return nil
}

func (c *quicConn) LocalAddr() net.Addr  { return c.addr }
func (c *quicConn) RemoteAddr() net.Addr { return c.addr }

func (c *quicConn) SetDeadline(t time.Time) error      { return c.stream.SetDeadline(t) }
func (c *quicConn) SetReadDeadline(t time.Time) error  { return c.stream.SetReadDeadline(t) }
func (c *quicConn) SetWriteDeadline(t time.Time) error { return c.stream.SetWriteDeadline(t) }
