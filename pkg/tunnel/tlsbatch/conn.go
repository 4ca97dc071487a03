package tlsbatch

import (
	"net"
	"sync"
)

// Conn is the socket under a TLS connection: between Begin and Flush it gathers what TLS
// writes, and Flush writes it in one write. Outside a batch it writes through.
type Conn struct {
	net.Conn

	mu  sync.Mutex
	buf *[]byte // pooled, held only during a batch: a batch is on while it is set
}

// BufferSize is what a pooled batch buffer holds without growing: 160 KiB, two write buffers
// of 64 KiB and their frames' and records' overhead with room to spare. A batch that grows a
// buffer past twice that does not give it back to the pool.
const BufferSize = 160 << 10

var buffers = sync.Pool{New: func() any {
	b := make([]byte, 0, BufferSize)
	return &b
}}

// Write gathers p during a batch, else writes it through.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return c.Conn.Write(p)
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

// Begin starts a batch: writes are gathered until Flush.
func (c *Conn) Begin() {
	c.mu.Lock()
	c.buf = buffers.Get().(*[]byte)
	c.mu.Unlock()
}

// Flush ends the batch and writes what it gathered in one write.
func (c *Conn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	buf := c.buf
	c.buf = nil
	var err error
	if len(*buf) > 0 {
		_, err = c.Conn.Write(*buf)
	}
	if cap(*buf) <= 2*BufferSize {
		*buf = (*buf)[:0]
		buffers.Put(buf)
	}
	return err
}

// holding tells whether a batch buffer is held (tests).
func (c *Conn) holding() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf != nil
}
