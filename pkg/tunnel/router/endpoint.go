package router

import (
	"context"
	"errors"
	"time"

	"jumpstarter.dev/service/pkg/auth/routertoken"
	"jumpstarter.dev/service/pkg/tunnel/wire"
)

// endpoint is one peer's stream in the router: a RouterService stream of our HTTP/2 server
// (frames) or a QUIC stream (bytes). A tunnel is two endpoints; each forwards what its own peer
// sends into the other (forward), so every combination of transports works.
type endpoint interface {
	base() *endpointBase
	transport() string
	// accept tells the peer that its token is good, before it waits for the other end.
	accept() error
	// forward passes what this endpoint's peer sends on to dst, and calls done once that
	// direction ended: nil once its end of stream was passed on, else why it failed. A gRPC
	// endpoint forwards from its connection's reader and returns at once; a QUIC endpoint
	// forwards on the calling goroutine and returns when done was called.
	forward(dst endpoint, done func(error))

	// sendBytes forwards n bytes read from a QUIC peer into *buf, a buffer of
	// wire.BufferPool(), which it takes over. It blocks while the peer cannot take more.
	sendBytes(buf *[]byte, n int) error
	// closeWrite passes a QUIC peer's end of stream on: GOAWAY or FIN.
	closeWrite() error

	// abort ends the endpoint with code; the first cause wins. It never blocks.
	abort(code wire.Code, msg string)
	// fail refuses the endpoint with code, before it was paired.
	fail(code wire.Code, msg string)
	// end ends a paired endpoint: cleanly unless it was aborted. It does not block.
	end()
}

// endpointBase is the state every endpoint has.
type endpointBase struct {
	// ctx ends when the endpoint is aborted (its cause is a *wire.CodeError) or its peer's
	// stream or connection is gone.
	ctx    context.Context
	cancel context.CancelCauseFunc
	// readyCh is closed once accept has answered the peer: nothing may be sent before.
	readyCh chan struct{}
	// pumpedCh is closed once the direction from this endpoint's peer has ended.
	pumpedCh chan struct{}
	// finish ends this endpoint's part of a paired tunnel, once; set before forwarding.
	finish   func()
	count    counters
	lease    routertoken.LeaseRef
	streamID string
	// expires is when the token stops being valid: until then its stream id stays spent.
	expires time.Time
}

func newBase(ctx context.Context, cancel context.CancelCauseFunc, count counters, claims routertoken.Claims) endpointBase {
	return endpointBase{
		ctx:      ctx,
		cancel:   cancel,
		readyCh:  make(chan struct{}),
		pumpedCh: make(chan struct{}),
		count:    count,
		lease:    claims.Lease,
		streamID: claims.StreamID,
		expires:  claims.ExpiresAt.Add(routertoken.Leeway),
	}
}

// abort ends the endpoint with code; the first cause wins.
func (b *endpointBase) abort(code wire.Code, msg string) {
	b.cancel(&wire.CodeError{Code: code, Msg: msg})
}

// cause is why the endpoint was aborted, if it was.
func (b *endpointBase) cause() (*wire.CodeError, bool) {
	var ce *wire.CodeError
	if errors.As(context.Cause(b.ctx), &ce) {
		return ce, true
	}
	return nil, false
}

// waitReady blocks until the endpoint has answered its peer.
func (b *endpointBase) waitReady() error {
	select {
	case <-b.readyCh:
		return nil
	default:
	}
	select {
	case <-b.readyCh:
		return nil
	case <-b.ctx.Done():
		return context.Cause(b.ctx)
	}
}

func (b *endpointBase) accepted() bool {
	select {
	case <-b.readyCh:
		return true
	default:
		return false
	}
}

// Errors a pump returns for what the peer did, passed on to the other end.
var (
	errReset     = &wire.CodeError{Code: wire.CodeAborted, Msg: "the other end reset the tunnel"}
	errMalformed = &wire.CodeError{Code: wire.CodeAborted, Msg: "the other end sent a malformed frame"}
	errGone      = &wire.CodeError{Code: wire.CodeAborted, Msg: "the other end of the tunnel went away"}
)
