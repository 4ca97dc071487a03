package h2relay

import (
	"bytes"
	"encoding/binary"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"jumpstarter.dev/service/pkg/tunnel/wire"
)

// writeBuf collects frames for one write to the socket. It is not a bufio.Writer: that one
// writes to the socket by itself when full, which would interleave with the flusher.
type writeBuf struct{ b []byte }

// writeBuffers are the connections' write buffers: a connection holds one only between its
// first write of a burst and the flush that ends it, so an idle connection holds none.
var writeBuffers = sync.Pool{New: func() any {
	return &writeBuf{b: make([]byte, 0, wire.GRPCWriteBuffer+frameHeaderLen+maxFrameSize)}
}}

// frameHeaderLen is the HTTP/2 frame header.
const frameHeaderLen = 9

// The methods below write frames into the connection's write buffer; c.wmu must be held, and
// flushLocked sends them.

// bufLocked is the write buffer, taken from the pool if the connection has none.
func (c *conn) bufLocked() *writeBuf {
	if c.bw == nil {
		c.bw = writeBuffers.Get().(*writeBuf)
	}
	return c.bw
}

func (c *conn) frameHeaderLocked(length int, t http2.FrameType, flags http2.Flags, streamID uint32) {
	var h [frameHeaderLen]byte
	h[0], h[1], h[2] = byte(length>>16), byte(length>>8), byte(length)
	h[3], h[4] = byte(t), byte(flags)
	binary.BigEndian.PutUint32(h[5:], streamID&(1<<31-1))
	w := c.bufLocked()
	w.b = append(w.b, h[:]...)
}

// frameLocked appends a frame, and flushes once the buffer holds wire.GRPCWriteBuffer.
func (c *conn) frameLocked(t http2.FrameType, flags http2.Flags, streamID uint32, payload []byte) {
	c.frameHeaderLocked(len(payload), t, flags, streamID)
	c.bw.b = append(c.bw.b, payload...)
	if len(c.bw.b) >= wire.GRPCWriteBuffer {
		c.flushLocked()
	}
}

func (c *conn) settingsLocked(settings ...http2.Setting) {
	p := make([]byte, 0, 6*len(settings))
	for _, s := range settings {
		p = binary.BigEndian.AppendUint16(p, uint16(s.ID))
		p = binary.BigEndian.AppendUint32(p, s.Val)
	}
	c.frameLocked(http2.FrameSettings, 0, 0, p)
}

func (c *conn) windowUpdateLocked(streamID uint32, incr uint32) {
	var p [4]byte
	binary.BigEndian.PutUint32(p[:], incr)
	c.frameLocked(http2.FrameWindowUpdate, 0, streamID, p[:])
}

func (c *conn) rstLocked(streamID uint32, code http2.ErrCode) {
	var p [4]byte
	binary.BigEndian.PutUint32(p[:], uint32(code))
	c.frameLocked(http2.FrameRSTStream, 0, streamID, p[:])
}

func (c *conn) goAwayLocked(lastStreamID uint32, code http2.ErrCode, debug string) {
	p := make([]byte, 8, 8+len(debug))
	binary.BigEndian.PutUint32(p, lastStreamID)
	binary.BigEndian.PutUint32(p[4:], uint32(code))
	c.frameLocked(http2.FrameGoAway, 0, 0, append(p, debug...))
}

// headersLocked writes a header block as HEADERS and CONTINUATION frames of at most the
// peer's frame size. The encoder keeps no dynamic table (see newConn), so blocks are
// independent of each other.
func (c *conn) headersLocked(streamID uint32, fields []hpack.HeaderField, endStream bool) {
	c.hbuf.Reset()
	for _, f := range fields {
		_ = c.enc.WriteField(f)
	}
	block := c.hbuf.Bytes()
	t := http2.FrameHeaders
	var flags http2.Flags
	if endStream {
		flags |= http2.FlagHeadersEndStream
	}
	for first := true; first || len(block) > 0; first = false {
		n := min(len(block), int(c.peerMaxFrame))
		f := flags
		if n == len(block) {
			f |= http2.FlagHeadersEndHeaders
		}
		c.frameLocked(t, f, streamID, block[:n])
		block = block[n:]
		t, flags = http2.FrameContinuation, 0
	}
	if c.hbuf.Cap() > 4<<10 {
		c.hbuf = bytes.Buffer{} // do not keep a large block's buffer for the connection's life
	}
	c.pingTokens = pingBurst // sending headers resets the ping policy, as grpc-go's does
}

// dataLocked writes p as DATA frames of stream s within the windows, and returns how much it
// wrote.
func (c *conn) dataLocked(s *Stream, p []byte) int {
	n := int(min(int64(len(p)), s.sendWindow, c.sendWindow))
	if n <= 0 {
		return 0
	}
	for rest := p[:n]; len(rest) > 0; {
		k := min(len(rest), int(c.peerMaxFrame))
		c.frameLocked(http2.FrameData, 0, s.id, rest[:k])
		rest = rest[k:]
	}
	s.sendWindow -= int64(n)
	c.sendWindow -= int64(n)
	c.pingTokens = pingBurst
	return n
}

// asyncFlushMin is the size from which a flush goes to the connection's flusher goroutine
// instead of being written by the caller. The caller is usually the reader of another
// connection, and bulk transfers then use two cores, as grpc-go's reader and writer goroutines
// do: one decrypts the next frames while the other encrypts and writes these. Smaller flushes
// (interactive traffic, window updates, headers) are written at once: a hand-off would add a
// goroutine wake-up to every round trip.
const asyncFlushMin = 16 << 10

// flushLocked sends what the write buffer holds and gives the buffer back: at once, or through
// the flusher (asyncFlushMin), which also takes every flush while it runs so that bytes stay in
// order. A peer that does not read its socket for writeTimeout loses its connection, so that
// the reader of another connection, writing to this one, is never held for long.
func (c *conn) flushLocked() {
	c.syncWriteErrLocked()
	if c.bw == nil {
		return
	}
	bw := c.bw
	c.bw = nil
	switch {
	case c.werr != nil || len(bw.b) == 0:
		releaseWriteBuffer(bw)
	case c.flushing || len(bw.b) >= asyncFlushMin:
		c.flushQ = append(c.flushQ, bw)
		if !c.flushing {
			c.flushing = true
			go c.flusher()
		}
	default:
		c.writeOut(bw)
		c.syncWriteErrLocked()
	}
}

// writeOut writes write buffers to the socket, in one socket write when TLS runs over a
// tlsbatch.Conn, and gives them back. Only one goroutine writes at a time: the holder of wmu
// while no flusher runs, else the flusher.
func (c *conn) writeOut(bws ...*writeBuf) {
	_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if c.batch != nil {
		c.batch.Begin()
	}
	var err error
	for _, bw := range bws {
		if err == nil {
			_, err = c.nc.Write(bw.b)
		}
		releaseWriteBuffer(bw)
	}
	if c.batch != nil {
		if ferr := c.batch.Flush(); err == nil {
			err = ferr
		}
	}
	if err != nil {
		c.failWrite(err)
	}
}

// failWrite records the first write error and closes the socket: the reader sees it and
// cleans up.
func (c *conn) failWrite(err error) {
	c.werrOnce.Do(func() {
		c.werrAsync.Store(&err)
		_ = c.nc.Close()
	})
}

// maxWriteBatch bounds what the flusher writes in one socket write: two full write buffers,
// which with their frames and TLS records still fit tlsbatch.BufferSize.
const maxWriteBatch = 2 * wire.GRPCWriteBuffer

// flusher writes the queued buffers in order, without wmu, until the queue is empty: those
// queued at once in one socket write, up to maxWriteBatch.
func (c *conn) flusher() {
	var batch []*writeBuf
	for {
		c.wmu.Lock()
		c.syncWriteErrLocked()
		if len(c.flushQ) == 0 || c.werr != nil {
			for _, bw := range c.flushQ {
				releaseWriteBuffer(bw)
			}
			clear(c.flushQ)
			c.flushQ = c.flushQ[:0]
			c.flushing = false
			c.flushIdle.Broadcast()
			c.wmu.Unlock()
			return
		}
		batch = batch[:0]
		size := 0
		for len(c.flushQ) > 0 && (len(batch) == 0 || size+len(c.flushQ[0].b) <= maxWriteBatch) {
			size += len(c.flushQ[0].b)
			batch = append(batch, c.flushQ[0])
			c.flushQ[0] = nil
			c.flushQ = c.flushQ[1:]
		}
		c.wmu.Unlock()
		c.writeOut(batch...)
		clear(batch)
	}
}

// syncWriteErrLocked copies a write error of the flusher into werr.
func (c *conn) syncWriteErrLocked() {
	if c.werr == nil {
		if p := c.werrAsync.Load(); p != nil {
			c.werr = *p
		}
	}
}

// waitFlushedLocked waits until the flusher has written everything queued (or failed).
func (c *conn) waitFlushedLocked() {
	for c.flushing {
		c.flushIdle.Wait()
	}
	c.syncWriteErrLocked()
}

// releaseWriteBuffer pools a write buffer, unless a large frame grew it: the pool keeps only
// buffers of the usual size.
func releaseWriteBuffer(bw *writeBuf) {
	if cap(bw.b) > 2*(wire.GRPCWriteBuffer+frameHeaderLen+maxFrameSize) {
		return
	}
	bw.b = bw.b[:0]
	writeBuffers.Put(bw)
}
