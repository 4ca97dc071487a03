package router

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/http2/hpack"

	"jumpstarter.dev/service/pkg/tunnel/h2relay"
	"jumpstarter.dev/service/pkg/tunnel/wire"
)

// serveStream takes a new RouterService stream of the HTTP/2 server, on its connection's
// reader: it checks the authorization header, then admits, pairs and links the stream on a
// goroutine that ends once the stream is paired (or refused). An idle paired tunnel has no
// goroutine of its own.
func (s *Server) serveStream(st *h2relay.Stream, md h2relay.Metadata) {
	token, err := bearer(md.Get("authorization"))
	if err != nil {
		s.metrics.refused(wire.CodeUnauthenticated)
		st.Abort(wire.CodeUnauthenticated.Status(err.Error()))
		return
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	st.OnGone(cancel)
	go func() {
		claims, cerr := s.admit(token)
		if cerr != nil {
			s.metrics.refused(cerr.Code)
			st.Abort(cerr.Code.Status(cerr.Msg))
			cancel(cerr)
			return
		}
		ep := &grpcEndpoint{endpointBase: newBase(ctx, cancel, s.grpcCounters, claims), stream: st}
		s.run(ep)
	}()
}

// bearer reads the token of the authorization header (wire contract §3.2: exactly one,
// "Bearer " matched case-insensitively).
func bearer(values []string) (string, error) {
	switch {
	case len(values) == 0:
		return "", errors.New("missing or invalid authorization: no authorization header")
	case len(values) > 1:
		return "", errors.New("missing or invalid authorization: multiple authorization headers")
	}
	const prefix = "bearer "
	v := values[0]
	if len(v) <= len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", errors.New("missing or invalid authorization: want \"Bearer <token>\"")
	}
	return v[len(prefix):], nil
}

// acceptedHeader is the response header of an accepted stream; its presence is what counts.
var acceptedHeader = hpack.HeaderField{Name: "jumpstarter-tunnel", Value: "accepted"}

// grpcEndpoint is a RouterService stream of the router's HTTP/2 server.
type grpcEndpoint struct {
	endpointBase
	stream *h2relay.Stream
}

func (e *grpcEndpoint) base() *endpointBase { return &e.endpointBase }
func (e *grpcEndpoint) transport() string   { return transportGRPC }

// abort ends the stream with code's status, and the reason in the trailers too
// (wire.TrailerReason), then cancels the endpoint.
func (e *grpcEndpoint) abort(code wire.Code, msg string) {
	e.stream.Abort(code.Status(msg),
		hpack.HeaderField{Name: wire.TrailerReason, Value: code.Reason()},
		hpack.HeaderField{Name: wire.TrailerMessage, Value: h2relay.HeaderValue(msg)})
	e.endpointBase.abort(code, msg)
}

// accept sends the response headers: our dialers wait for them to know the token was good.
func (e *grpcEndpoint) accept() error {
	if err := e.stream.Accept(acceptedHeader); err != nil {
		return err
	}
	close(e.readyCh)
	return nil
}

func (e *grpcEndpoint) forward(dst endpoint, done func(error)) {
	finished := func(err error) {
		switch {
		case errors.Is(err, h2relay.ErrReset):
			err = errReset
		case errors.Is(err, h2relay.ErrMalformed):
			err = errMalformed
		}
		done(err)
	}
	switch d := dst.(type) {
	case *grpcEndpoint:
		e.stream.Link(d.stream, h2relay.Counters{Received: e.count.received, Sent: d.count.sent}, finished)
	default:
		e.stream.LinkBytes(byteSink{dst}, h2relay.Counters{Received: e.count.received}, finished)
	}
}

// byteSink is a QUIC endpoint as the sink of a gRPC stream.
type byteSink struct{ dst endpoint }

func (b byteSink) Write(p []byte) (int, error) {
	buf := wire.BufferPool().Get(len(p))
	copy(*buf, p)
	if err := b.dst.sendBytes(buf, len(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (b byteSink) CloseWrite() error { return b.dst.closeWrite() }

func (e *grpcEndpoint) sendBytes(buf *[]byte, n int) error {
	err := e.stream.WriteData((*buf)[:n])
	wire.BufferPool().Put(buf)
	if err != nil {
		return err
	}
	e.count.sent.Add(float64(n))
	return nil
}

func (e *grpcEndpoint) closeWrite() error { return e.stream.CloseWrite() }

func (e *grpcEndpoint) fail(code wire.Code, msg string) { e.abort(code, msg) }

// end finishes the stream: status OK after a clean tunnel, the abort's status otherwise (sent
// by abort already); a stream its client reset needs nothing.
func (e *grpcEndpoint) end() {
	if ce, ok := e.cause(); ok {
		e.abort(ce.Code, ce.Msg)
		return
	}
	if e.ctx.Err() != nil {
		return
	}
	e.stream.Finish()
	e.cancel(nil)
}

// String names the endpoint in logs.
func (e *grpcEndpoint) String() string { return fmt.Sprintf("grpc:%s", e.streamID) }
