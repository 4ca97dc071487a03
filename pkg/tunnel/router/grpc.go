package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
	"jumpstarter.dev/service/pkg/tunnel/wire"
)

// routerServiceDesc serves jumpstarter.v1.RouterService/Stream with raw frames instead of the
// generated handler's parsed messages. The method path, and the proto file reflection finds,
// are the generated service's.
var routerServiceDesc = grpc.ServiceDesc{
	ServiceName: "jumpstarter.v1.RouterService",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    "Stream",
		Handler:       func(srv any, stream grpc.ServerStream) error { return srv.(*Server).handleGRPC(stream) },
		ServerStreams: true,
		ClientStreams: true,
	}},
	Metadata: "jumpstarter/v1/router.proto",
}

// cancelKey holds, in a router stream's context, the function that cancels it.
type cancelKey struct{}

// tapStream gives every router stream a context the router can cancel: grpc-go offers no way
// to interrupt a handler's blocked RecvMsg except by ending the stream's context, and the
// router must end established tunnels when their lease ends or their other end goes away.
func tapStream(ctx context.Context, info *tap.Info) (context.Context, error) {
	if info.FullMethodName != jumpstarterv1.RouterService_Stream_FullMethodName {
		return ctx, nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	return context.WithValue(ctx, cancelKey{}, cancel), nil
}

func (s *Server) handleGRPC(stream grpc.ServerStream) error {
	ctx := stream.Context()
	cancel, ok := ctx.Value(cancelKey{}).(context.CancelCauseFunc)
	if !ok {
		return status.Error(codes.Internal, "router stream without its cancel function")
	}
	token, err := bearer(ctx)
	if err != nil {
		s.metrics.refused(wire.CodeUnauthenticated)
		return wire.CodeUnauthenticated.Error(err.Error())
	}
	claims, cerr := s.admitShallow(token)
	if cerr != nil {
		s.metrics.refused(cerr.Code)
		return cerr.Code.Error(cerr.Msg)
	}
	ep := &grpcEndpoint{endpointBase: newBase(ctx, cancel, s.grpcCounters, claims), stream: stream}
	return s.run(ep)
}

// bearer reads the token of the authorization header (wire contract §3.2: exactly one,
// "Bearer " matched case-insensitively).
func bearer(ctx context.Context) (string, error) {
	values := metadata.ValueFromIncomingContext(ctx, "authorization")
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
var acceptedHeader = metadata.Pairs("jumpstarter-tunnel", "accepted")

// grpcEndpoint is a RouterService stream.
type grpcEndpoint struct {
	endpointBase
	stream   grpc.ServerStream
	aborting atomic.Bool
}

// abort sets the reason in the trailers (wire.TrailerReason), then cancels the stream.
func (e *grpcEndpoint) abort(code wire.Code, msg string) {
	if e.aborting.CompareAndSwap(false, true) {
		e.stream.SetTrailer(metadata.Pairs(wire.TrailerReason, code.Reason(), wire.TrailerMessage, msg))
	}
	e.endpointBase.abort(code, msg)
}

func (e *grpcEndpoint) base() *endpointBase { return &e.endpointBase }
func (e *grpcEndpoint) transport() string   { return transportGRPC }

// accept sends the response headers: our dialers wait for them to know the token was good.
func (e *grpcEndpoint) accept() error {
	if err := e.stream.SendHeader(acceptedHeader); err != nil {
		return err
	}
	close(e.readyCh)
	return nil
}

func (e *grpcEndpoint) pump(dst endpoint) error {
	var f wire.Frame
	defer f.Free()
	for {
		if err := e.stream.RecvMsg(&f); err != nil {
			if err == io.EOF { // the peer half-closed without GOAWAY: same meaning (§3.10)
				return dst.closeWrite(nil)
			}
			return err
		}
		info, err := f.Info()
		if err != nil {
			return errMalformed
		}
		switch info.Type {
		case jumpstarterv1.FrameType_FRAME_TYPE_DATA:
			e.count.received.Add(float64(info.PayloadLen))
			if err := dst.sendFrame(&f, info); err != nil {
				return err
			}
		case jumpstarterv1.FrameType_FRAME_TYPE_GOAWAY:
			return dst.closeWrite(&f)
		case jumpstarterv1.FrameType_FRAME_TYPE_PING:
			f.Free() // a keepalive of this hop; each hop has its own
		case jumpstarterv1.FrameType_FRAME_TYPE_RST_STREAM:
			return errReset
		default: // passed on as it is to a gRPC peer, which skips what it does not know
			if err := dst.sendFrame(&f, info); err != nil {
				return err
			}
		}
	}
}

func (e *grpcEndpoint) sendFrame(f *wire.Frame, info wire.FrameInfo) error {
	if err := e.waitReady(); err != nil {
		f.Free()
		return err
	}
	err := e.stream.SendMsg(f)
	f.Free() // the codec took the buffers unless SendMsg failed before encoding
	if err != nil {
		return err
	}
	if info.Type == jumpstarterv1.FrameType_FRAME_TYPE_DATA {
		e.count.sent.Add(float64(info.PayloadLen))
	}
	return nil
}

func (e *grpcEndpoint) sendBytes(buf *[]byte, n int) error {
	pool := wire.BufferPool()
	if err := e.waitReady(); err != nil {
		pool.Put(buf)
		return err
	}
	*buf = (*buf)[:n]
	f := wire.DataFrame(mem.NewBuffer(buf, pool))
	err := e.stream.SendMsg(f)
	f.Free()
	if err != nil {
		return err
	}
	e.count.sent.Add(float64(n))
	return nil
}

func (e *grpcEndpoint) closeWrite(goAway *wire.Frame) error {
	if goAway == nil {
		goAway = wire.GoAwayFrame()
	}
	if err := e.waitReady(); err != nil {
		goAway.Free()
		return err
	}
	err := e.stream.SendMsg(goAway)
	goAway.Free()
	return err
}

func (e *grpcEndpoint) fail(code wire.Code, msg string) error {
	e.abort(code, msg)
	return e.finish()
}

// finish is the handler's result: OK after a clean tunnel, the abort's status otherwise.
func (e *grpcEndpoint) finish() error {
	if ce, ok := e.cause(); ok {
		return ce.Code.Error(ce.Msg)
	}
	if err := e.ctx.Err(); err != nil {
		// The peer cancelled or its connection dropped: nobody reads this status.
		return status.FromContextError(err).Err()
	}
	return nil
}

// String names the endpoint in logs.
func (e *grpcEndpoint) String() string { return fmt.Sprintf("grpc:%s", e.streamID) }
