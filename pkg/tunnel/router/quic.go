package router

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/quic-go/quic-go"

	"jumpstarter.dev/service/pkg/tunnel/wire"
)

// quicConfig is the router's QUIC configuration: windows of package wire, keepalives, and one
// bidirectional stream per connection at a time. The limit of one is also how a peer learns
// that its tunnel's stream is complete on our side (every byte read, every byte acknowledged):
// it is then allowed a next stream (see tunnel.Conn's Close).
func quicConfig() *quic.Config { return wire.QUICConfig(1) }

// serveQUIC accepts connections until ln closes; each is one tunnel end.
func (s *Server) serveQUIC(ctx context.Context, ln *quic.Listener) {
	for {
		conn, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handleQUIC(ctx, conn)
		}()
	}
}

// refusalLinger bounds how long a refused QUIC connection is kept open for the dialer to read
// the refusal and close the connection itself.
const refusalLinger = 2 * time.Second

func (s *Server) handleQUIC(ctx context.Context, conn *quic.Conn) {
	refuse := func(st *quic.Stream, code wire.Code, msg string) {
		s.metrics.refused(code)
		s.logger.V(2).Info("Refused tunnel stream", "transport", transportQUIC, "remote", conn.RemoteAddr(), "reason", code, "message", msg)
		if st != nil {
			_, _ = st.Write(wire.AppendStatus(nil, code, msg))
			_ = st.Close()
			// The dialer closes the connection once it has read the status. Closing it here
			// at once could let the close overtake the status, and the dialer would see only
			// the close (its code, not always its message).
			linger, cancel := context.WithTimeout(ctx, refusalLinger)
			select {
			case <-conn.Context().Done():
			case <-linger.Done():
			}
			cancel()
		}
		_ = conn.CloseWithError(quic.ApplicationErrorCode(code), msg)
	}
	actx, cancel := context.WithTimeout(ctx, s.headerTimeout)
	st, err := conn.AcceptStream(actx)
	cancel()
	if err != nil {
		refuse(nil, wire.CodeBadHeader, "no tunnel stream opened in time")
		return
	}
	_ = st.SetReadDeadline(time.Now().Add(s.headerTimeout))
	token, err := wire.ReadHeader(st)
	if err != nil {
		refuse(st, wire.CodeBadHeader, err.Error())
		return
	}
	_ = st.SetReadDeadline(time.Time{})
	claims, cerr := s.admitShallow(token)
	if cerr != nil {
		refuse(st, cerr.Code, cerr.Msg)
		return
	}
	ectx, ecancel := context.WithCancelCause(conn.Context())
	ep := &quicEndpoint{endpointBase: newBase(ectx, ecancel, s.quicCounters, claims), conn: conn, stream: st, endedCh: make(chan struct{})}
	// Whatever ends the endpoint closes its connection, so that blocked reads and writes
	// return and the peer learns why.
	stop := context.AfterFunc(ectx, ep.closeConn)
	defer stop()
	if s.run(ep) {
		<-ep.endedCh
		ep.finish()
	}
}

// quicEndpoint is the stream of a QUIC tunnel connection.
type quicEndpoint struct {
	endpointBase
	conn      *quic.Conn
	stream    *quic.Stream
	closeOnce sync.Once
	// endedCh is closed by end: the connection's goroutine then finishes it (finish blocks).
	endedCh chan struct{}
	endOnce sync.Once
}

func (e *quicEndpoint) base() *endpointBase { return &e.endpointBase }
func (e *quicEndpoint) transport() string   { return transportQUIC }

func (e *quicEndpoint) accept() error {
	if _, err := e.stream.Write(wire.AppendStatus(nil, wire.CodeOK, "")); err != nil {
		return err
	}
	close(e.readyCh)
	return nil
}

// forward reads the QUIC stream on the calling goroutine until its FIN or an error.
func (e *quicEndpoint) forward(dst endpoint, done func(error)) { done(e.pump(dst)) }

func (e *quicEndpoint) pump(dst endpoint) error {
	pool := wire.BufferPool()
	var one [1]byte
	for {
		// Wait for data without holding a buffer: an idle tunnel costs no read buffer.
		if _, err := e.stream.Peek(one[:]); err != nil {
			if err == io.EOF {
				return dst.closeWrite()
			}
			return err
		}
		buf := pool.Get(wire.MaxFrameMessage)
		n, err := e.stream.Read(*buf)
		if n > 0 {
			e.count.received.Add(float64(n))
			if serr := dst.sendBytes(buf, n); serr != nil {
				return serr
			}
		} else {
			pool.Put(buf)
		}
		if err == io.EOF {
			return dst.closeWrite()
		}
		if err != nil {
			return err
		}
	}
}

func (e *quicEndpoint) sendBytes(buf *[]byte, n int) error {
	defer wire.BufferPool().Put(buf)
	if err := e.waitReady(); err != nil {
		return err
	}
	if _, err := e.stream.Write((*buf)[:n]); err != nil {
		return err
	}
	e.count.sent.Add(float64(n))
	return nil
}

func (e *quicEndpoint) closeWrite() error {
	if err := e.waitReady(); err != nil {
		return err
	}
	return e.stream.Close()
}

// closeConn closes the connection with the abort's code, or cleanly.
func (e *quicEndpoint) closeConn() {
	e.closeOnce.Do(func() {
		code, msg := wire.CodeOK, ""
		if ce, ok := e.cause(); ok {
			code, msg = ce.Code, ce.Msg
		}
		if code != wire.CodeOK && !e.accepted() {
			// Not answered yet: the status byte says it first, for peers that read it.
			_, _ = e.stream.Write(wire.AppendStatus(nil, code, msg))
			_ = e.stream.Close()
		}
		_ = e.conn.CloseWithError(quic.ApplicationErrorCode(code), msg)
	})
}

// abort ends the endpoint with code; closeConn follows through the context.
func (e *quicEndpoint) abort(code wire.Code, msg string) { e.endpointBase.abort(code, msg) }

func (e *quicEndpoint) fail(code wire.Code, msg string) {
	e.abort(code, msg)
	e.closeConn()
}

// end hands the endpoint back to its connection's goroutine, which finishes it.
func (e *quicEndpoint) end() { e.endOnce.Do(func() { close(e.endedCh) }) }

// finish ends a paired tunnel: after a clean one it waits (at most wire.CloseLinger) for the
// peer to close the connection, once it has every byte, before closing it here; closing first
// could drop our last bytes in flight.
func (e *quicEndpoint) finish() {
	if _, aborted := e.cause(); !aborted {
		timer := time.NewTimer(wire.CloseLinger)
		select {
		case <-e.conn.Context().Done():
		case <-timer.C:
		}
		timer.Stop()
	}
	e.closeConn()
}

// String names the endpoint in logs.
func (e *quicEndpoint) String() string { return fmt.Sprintf("quic:%s", e.streamID) }
