package framestream

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"

	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// MaxFrameSize is the largest DATA payload Write sends: the socket-read size of the Python
// tools, far below gRPC's default 4 MiB message limit.
const MaxFrameSize = 64 << 10

// recvQueue is how many received frames wait for Read: enough to keep the gRPC stream busy
// while the reader writes out the previous frame, little enough to bound memory per stream.
const recvQueue = 4

// ErrReset is what Read returns after the peer sent FRAME_TYPE_RST_STREAM.
var ErrReset = errors.New("stream reset by peer (RST_STREAM frame)")

// frames is one end of a RouterService/Stream call, client or server.
type frames interface {
	send(payload []byte, frameType jumpstarterv1.FrameType) error
	recv() ([]byte, jumpstarterv1.FrameType, error)
	// closeSend half-closes the gRPC call; servers cannot, their handler's return does.
	closeSend() error
}

type clientFrames struct {
	s grpc.BidiStreamingClient[jumpstarterv1.StreamRequest, jumpstarterv1.StreamResponse]
}

func (f clientFrames) send(p []byte, t jumpstarterv1.FrameType) error {
	return f.s.Send(&jumpstarterv1.StreamRequest{Payload: p, FrameType: t})
}

func (f clientFrames) recv() ([]byte, jumpstarterv1.FrameType, error) {
	m, err := f.s.Recv()
	return m.GetPayload(), m.GetFrameType(), err
}

func (f clientFrames) closeSend() error { return f.s.CloseSend() }

type serverFrames struct {
	s grpc.BidiStreamingServer[jumpstarterv1.StreamRequest, jumpstarterv1.StreamResponse]
}

func (f serverFrames) send(p []byte, t jumpstarterv1.FrameType) error {
	return f.s.Send(&jumpstarterv1.StreamResponse{Payload: p, FrameType: t})
}

func (f serverFrames) recv() ([]byte, jumpstarterv1.FrameType, error) {
	m, err := f.s.Recv()
	return m.GetPayload(), m.GetFrameType(), err
}

func (serverFrames) closeSend() error { return nil }

// received is one frame's payload for Read, or the error that ends reading.
type received struct {
	data []byte
	err  error
}

// Conn is a byte stream over a RouterService/Stream call. Reads and writes may run
// concurrently; read deadlines are exact, write deadlines are checked before each frame (a
// frame blocked by flow control waits for the peer or for Close).
type Conn struct {
	f       frames
	onClose func()

	queue  chan received
	closed chan struct{}
	once   sync.Once

	rmu  sync.Mutex // Read
	buf  []byte
	rerr error

	wmu       sync.Mutex // Write, CloseWrite
	wclosed   bool
	rDeadline deadline
	wDeadline deadline
}

// NewClientConn is the byte stream of a call this side opened. cancel ends the call (and what
// carries it); Close calls it once.
func NewClientConn(stream grpc.BidiStreamingClient[jumpstarterv1.StreamRequest, jumpstarterv1.StreamResponse], cancel func()) *Conn {
	return newConn(clientFrames{stream}, cancel)
}

// NewServerConn is the byte stream of a call this side serves. The call ends when the
// handler returns; Close only stops Read and Write.
func NewServerConn(stream grpc.BidiStreamingServer[jumpstarterv1.StreamRequest, jumpstarterv1.StreamResponse]) *Conn {
	return newConn(serverFrames{stream}, nil)
}

func newConn(f frames, onClose func()) *Conn {
	c := &Conn{
		f:         f,
		onClose:   onClose,
		queue:     make(chan received, recvQueue),
		closed:    make(chan struct{}),
		rDeadline: makeDeadline(),
		wDeadline: makeDeadline(),
	}
	go c.receive()
	return c
}

// receive moves frames from the call to the queue until the stream ends.
func (c *Conn) receive() {
	for {
		payload, frameType, err := c.f.recv()
		var item received
		switch {
		case errors.Is(err, io.EOF):
			item.err = io.EOF
		case err != nil:
			item.err = err
		case frameType == jumpstarterv1.FrameType_FRAME_TYPE_DATA:
			if len(payload) == 0 {
				continue
			}
			item.data = payload
		case frameType == jumpstarterv1.FrameType_FRAME_TYPE_GOAWAY:
			item.err = io.EOF
		case frameType == jumpstarterv1.FrameType_FRAME_TYPE_RST_STREAM:
			item.err = ErrReset
		default: // PING and frame types this side does not know
			continue
		}
		select {
		case c.queue <- item:
		case <-c.closed:
			return
		}
		if item.err != nil {
			return
		}
	}
}

// Read implements net.Conn.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(c.buf) == 0 && c.rerr == nil {
		select {
		case item := <-c.queue:
			c.buf, c.rerr = item.data, item.err
		case <-c.rDeadline.wait():
			return 0, os.ErrDeadlineExceeded
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	return 0, c.rerr
}

// Write implements net.Conn, one DATA frame per MaxFrameSize bytes.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	written := 0
	for len(p) > 0 {
		if err := c.writable(); err != nil {
			return written, err
		}
		chunk := p[:min(len(p), MaxFrameSize)]
		if err := c.f.send(chunk, jumpstarterv1.FrameType_FRAME_TYPE_DATA); err != nil {
			return written, err
		}
		written += len(chunk)
		p = p[len(chunk):]
	}
	return written, nil
}

func (c *Conn) writable() error {
	select {
	case <-c.closed:
		return net.ErrClosed
	case <-c.wDeadline.wait():
		return os.ErrDeadlineExceeded
	default:
	}
	if c.wclosed {
		return errors.New("write after CloseWrite")
	}
	return nil
}

// CloseWrite sends GOAWAY, end-of-stream for the peer's reads, and half-closes a client call.
// Reading goes on.
func (c *Conn) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed {
		return nil
	}
	select {
	case <-c.closed:
		return net.ErrClosed
	default:
	}
	c.wclosed = true
	if err := c.f.send(nil, jumpstarterv1.FrameType_FRAME_TYPE_GOAWAY); err != nil {
		return err
	}
	return c.f.closeSend()
}

// Close ends the stream: pending and later Reads and Writes fail, and a client call is
// cancelled.
func (c *Conn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		if c.onClose != nil {
			c.onClose()
		}
	})
	return nil
}

// LocalAddr implements net.Conn; a stream has no address of its own.
func (c *Conn) LocalAddr() net.Addr { return streamAddr{} }

// RemoteAddr implements net.Conn.
func (c *Conn) RemoteAddr() net.Addr { return streamAddr{} }

// SetDeadline implements net.Conn.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rDeadline.set(t)
	c.wDeadline.set(t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rDeadline.set(t)
	return nil
}

// SetWriteDeadline implements net.Conn.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wDeadline.set(t)
	return nil
}

type streamAddr struct{}

func (streamAddr) Network() string { return "jumpstarter" }
func (streamAddr) String() string  { return "router-stream" }

var _ net.Conn = (*Conn)(nil)
