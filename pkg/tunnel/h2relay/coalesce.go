package h2relay

import (
	"net"
	"sync"
)

// coalescingConn is the socket under a connection's TLS: during a batch it gathers what TLS
// writes, so that one flush of the write buffer (up to wire.GRPCWriteBuffer, four or five TLS
// records of 16 KiB) reaches the socket as one write instead of one per record. On loopback
// and on a LAN that is one 64 KiB segment where there were four, and fewer wake-ups of the
// reader at the other end. Outside a batch (the handshake, the reader's own writes such as a
// TLS key update) it writes through.
type coalescingConn struct {
	net.Conn

	mu       sync.Mutex
	batching bool
	buf      *[]byte // pooled, held only during a batch
}

// coalesceBuffers hold a batch: up to maxWriteBatch of frames and their TLS record overhead.
var coalesceBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, coalesceBufferSize)
	return &b
}}

const coalesceBufferSize = maxWriteBatch + 2*maxFrameSize

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.batching {
		return c.Conn.Write(p)
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// begin starts a batch: writes are gathered until flush.
func (c *coalescingConn) begin() {
	c.mu.Lock()
	c.batching = true
	c.buf = coalesceBuffers.Get().(*[]byte)
	c.mu.Unlock()
}

// flush ends the batch and writes what it gathered in one write.
func (c *coalescingConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batching = false
	buf := c.buf
	c.buf = nil
	_, err := c.Conn.Write(*buf)
	if cap(*buf) <= 2*coalesceBufferSize { // a batch that grew the buffer far does not keep it
		*buf = (*buf)[:0]
		coalesceBuffers.Put(buf)
	}
	return err
}
