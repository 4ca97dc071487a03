package tunnel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"

	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
	"jumpstarter.dev/service/pkg/tunnel/tlsbatch"
	"jumpstarter.dev/service/pkg/tunnel/wire"
)

// streamDesc is RouterService/Stream's.
var streamDesc = grpc.StreamDesc{StreamName: "Stream", ServerStreams: true, ClientStreams: true}

// keepaliveTimeout is how long a peer waits for the answer to its keepalive ping.
const keepaliveTimeout = 20 * time.Second

// GRPCDialOptions are the client options of a tunnel's gRPC connection: TLS (each write of the
// transport in one socket write, package tlsbatch), the tunnel codec, windows and buffers of
// package wire, and keepalives the router's policy accepts.
func GRPCDialOptions(tlsConfig *tls.Config) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(tlsbatch.Credentials(credentials.NewTLS(tlsConfig))),
		grpc.WithInitialWindowSize(wire.GRPCStreamWindow),
		grpc.WithInitialConnWindowSize(wire.GRPCConnWindow),
		grpc.WithWriteBufferSize(wire.GRPCWriteBuffer),
		grpc.WithReadBufferSize(wire.GRPCReadBuffer),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: wire.KeepaliveTime, Timeout: keepaliveTimeout, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(wire.Codec{}), grpc.MaxCallRecvMsgSize(wire.MaxRecvMessage)),
		experimental.WithBufferPool(wire.BufferPool()),
	}
}

// DialGRPC opens a tunnel through the router at endpoint (host:port) over gRPC, with token
// as its bearer credential. It returns once the router has accepted the token; ctx bounds
// only the dial, not the tunnel.
func DialGRPC(ctx context.Context, endpoint, token string, tlsConfig *tls.Config) (Conn, error) {
	if endpoint == "" || token == "" {
		return nil, errors.New("tunnel: dial needs a router endpoint and a token")
	}
	if tlsConfig == nil {
		return nil, errors.New("tunnel: dial needs a TLS configuration (routers only speak TLS)")
	}
	cc, err := grpc.NewClient(endpoint, GRPCDialOptions(tlsConfig)...)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, endpoint, err)
	}
	// The stream outlives ctx, which bounds the dial alone.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sctx = metadata.AppendToOutgoingContext(sctx, "authorization", "Bearer "+token)
	stop := context.AfterFunc(ctx, cancel)
	fail := func(err error) (Conn, error) {
		cancel()
		_ = cc.Close()
		return nil, err
	}
	stream, err := cc.NewStream(sctx, &streamDesc, jumpstarterv1.RouterService_Stream_FullMethodName)
	if err == nil {
		// Our router sends headers as soon as it accepts the token, before the other end
		// comes; a refusal comes as a status without headers, which RecvMsg returns.
		var md metadata.MD
		if md, err = stream.Header(); err == nil && md == nil {
			var f wire.Frame
			if err = stream.RecvMsg(&f); err == nil || err == io.EOF {
				f.Free()
				err = fmt.Errorf("%w: the router answered without accepting the stream", ErrProtocol)
			}
		}
	}
	if !stop() {
		return fail(fmt.Errorf("%w: %s: %w", ErrUnreachable, endpoint, context.Cause(ctx)))
	}
	if err != nil {
		return fail(fmt.Errorf("dial router %s: %w", endpoint, statusError(err)))
	}
	return &grpcConn{
		stream:    stream,
		client:    stream,
		cancel:    cancel,
		closeConn: func() { _ = cc.Close() },
		addr:      tunnelAddr{network: "jumpstarter+grpc", endpoint: endpoint},
	}, nil
}

// NewServerConn is the server's end of a RouterService/Stream that a gRPC server serves
// itself rather than routes: the frames of a tunnel as a Conn. The server must use
// wire.Codec (grpc.ForceServerCodecV2). The handler returns once Done is closed, by Close;
// returning ends the stream with OK, after the GOAWAY of CloseWrite if there was one.
func NewServerConn(stream grpc.ServerStream) *ServerConn {
	done := make(chan struct{})
	var once sync.Once
	end := func() { once.Do(func() { close(done) }) }
	return &ServerConn{grpcConn: &grpcConn{
		stream:    stream,
		cancel:    end,
		closeConn: end,
		addr:      tunnelAddr{network: "jumpstarter+grpc", endpoint: "server"},
	}, done: done}
}

// ServerConn is a Conn over a server stream; see NewServerConn.
type ServerConn struct {
	*grpcConn
	done chan struct{}
}

// Done is closed when the conn is closed: the handler returns then.
func (c *ServerConn) Done() <-chan struct{} { return c.done }

// grpcConn is a tunnel over a RouterService stream, a client's (DialGRPC) or a server's
// (NewServerConn).
type grpcConn struct {
	stream interface {
		SendMsg(m any) error
		RecvMsg(m any) error
	}
	client    grpc.ClientStream // nil on the server's side
	cancel    func()            // aborts the stream
	closeConn func()            // releases what the stream runs on
	addr      tunnelAddr

	// Read side: one Read at a time.
	rmu      sync.Mutex
	frame    wire.Frame
	segs     [][]byte // payload not yet read, views into frame
	rerr     error    // sticky: io.EOF after GOAWAY or the end of the RPC
	rpcEnded bool     // RecvMsg returned: the router ended the RPC
	readEOF  atomic.Bool

	// Write side: one Write at a time.
	wmu         sync.Mutex
	writeClosed atomic.Bool

	deadlines deadlines
	closeOnce sync.Once
}

var _ Conn = (*grpcConn)(nil)

func (c *grpcConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if len(c.segs) > 0 {
			n := 0
			for n < len(p) && len(c.segs) > 0 {
				k := copy(p[n:], c.segs[0])
				n += k
				if k == len(c.segs[0]) {
					c.segs = c.segs[1:]
				} else {
					c.segs[0] = c.segs[0][k:]
				}
			}
			if len(c.segs) == 0 {
				c.frame.Free()
			}
			return n, nil
		}
		if c.rerr != nil {
			return 0, c.rerr
		}
		if err := c.stream.RecvMsg(&c.frame); err != nil {
			c.rpcEnded = true
			c.setReadErr(c.recvError(err))
			continue
		}
		info, err := c.frame.Info()
		if err != nil {
			c.frame.Free()
			c.setReadErr(fmt.Errorf("%w: %v", ErrProtocol, err))
			c.cancel()
			continue
		}
		switch info.Type {
		case jumpstarterv1.FrameType_FRAME_TYPE_DATA:
			c.segs = c.frame.Payload(info, c.segs[:0])
			if len(c.segs) == 0 {
				c.frame.Free()
			}
		case jumpstarterv1.FrameType_FRAME_TYPE_GOAWAY:
			c.frame.Free()
			c.setReadErr(io.EOF)
		case jumpstarterv1.FrameType_FRAME_TYPE_RST_STREAM:
			c.frame.Free()
			c.setReadErr(fmt.Errorf("%w: the other end reset the tunnel", ErrAborted))
			c.cancel()
		default: // PING and frame types we do not know carry nothing for us
			c.frame.Free()
		}
	}
}

func (c *grpcConn) setReadErr(err error) {
	c.rerr = err
	if err == io.EOF {
		c.readEOF.Store(true)
	}
}

func (c *grpcConn) recvError(err error) error {
	if err == io.EOF {
		return io.EOF
	}
	if c.deadlines.exceeded() {
		return os.ErrDeadlineExceeded
	}
	// A router that cuts an established tunnel can only say why in the trailers (see
	// wire.TrailerReason): the status is grpc-go's CANCELLED then.
	if c.client == nil {
		return statusError(err)
	}
	tr := c.client.Trailer()
	if reasons := tr.Get(wire.TrailerReason); len(reasons) == 1 {
		if code, ok := wire.CodeFromReason(reasons[0]); ok {
			msg := ""
			if m := tr.Get(wire.TrailerMessage); len(m) == 1 {
				msg = m[0]
			}
			return codeError(code, msg)
		}
	}
	return statusError(err)
}

func (c *grpcConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writeClosed.Load() {
		return 0, fmt.Errorf("tunnel: write after CloseWrite: %w", net.ErrClosed)
	}
	pool := wire.BufferPool()
	written := 0
	for written < len(p) {
		chunk := p[written:min(len(p), written+wire.MaxFrameMessage)]
		buf := pool.Get(len(chunk) + wire.MaxDataHeaderLen)
		*buf = append(wire.DataHeader((*buf)[:0], len(chunk)), chunk...)
		f := wire.Frame{Data: mem.BufferSlice{mem.NewBuffer(buf, pool)}}
		if err := c.stream.SendMsg(&f); err != nil {
			f.Free()
			return written, c.sendError(err)
		}
		written += len(chunk)
	}
	return written, nil
}

func (c *grpcConn) sendError(err error) error {
	if c.deadlines.exceeded() {
		return os.ErrDeadlineExceeded
	}
	if err == io.EOF {
		// The RPC is over; Read has the router's reason.
		return fmt.Errorf("%w: the router ended the tunnel", ErrAborted)
	}
	return statusError(err)
}

// CloseWrite sends GOAWAY and half-closes: the other end reads io.EOF after what was written.
func (c *grpcConn) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writeClosed.Swap(true) {
		return nil
	}
	if err := c.stream.SendMsg(wire.GoAwayFrame()); err != nil {
		return c.sendError(err)
	}
	if c.client == nil {
		return nil
	}
	return c.client.CloseSend()
}

// Close ends the tunnel. After CloseWrite and io.EOF it waits for the router to end the RPC,
// which it does once it has read our GOAWAY, so that nothing written is lost; otherwise it
// aborts.
func (c *grpcConn) Close() error {
	c.closeOnce.Do(func() {
		c.deadlines.stop()
		if c.client != nil && c.writeClosed.Load() && c.readEOF.Load() {
			c.drain()
		}
		c.cancel()
		c.closeConn()
	})
	return nil
}

// drain waits, at most wire.CloseLinger, for the end of the RPC. Read no longer calls
// RecvMsg once it has seen io.EOF, so drain is the only receiver.
func (c *grpcConn) drain() {
	c.rmu.Lock()
	ended := c.rpcEnded
	c.rmu.Unlock()
	if ended {
		return
	}
	timer := time.AfterFunc(wire.CloseLinger, c.cancel)
	defer timer.Stop()
	var f wire.Frame
	for c.stream.RecvMsg(&f) == nil {
		f.Free()
	}
}

func (c *grpcConn) LocalAddr() net.Addr  { return c.addr }
func (c *grpcConn) RemoteAddr() net.Addr { return c.addr }

func (c *grpcConn) SetDeadline(t time.Time) error {
	c.deadlines.set(t, c.cancel)
	return nil
}
func (c *grpcConn) SetReadDeadline(t time.Time) error  { return c.SetDeadline(t) }
func (c *grpcConn) SetWriteDeadline(t time.Time) error { return c.SetDeadline(t) }

// deadlines aborts a gRPC tunnel when its deadline passes: a blocked RecvMsg or SendMsg can
// only be interrupted by cancelling the stream. Read and write deadlines are one.
type deadlines struct {
	mu    sync.Mutex
	timer *time.Timer
	hit   bool
}

func (d *deadlines) set(t time.Time, abort func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	if t.IsZero() || d.hit {
		return
	}
	d.timer = time.AfterFunc(time.Until(t), func() {
		d.mu.Lock()
		d.hit = true
		d.mu.Unlock()
		abort()
	})
}

func (d *deadlines) exceeded() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hit
}

func (d *deadlines) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
	}
}

// tunnelAddr is both addresses of a tunnel: the router it goes through.
type tunnelAddr struct {
	network, endpoint string
}

func (a tunnelAddr) Network() string { return a.network }
func (a tunnelAddr) String() string  { return a.endpoint }
