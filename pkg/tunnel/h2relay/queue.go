package h2relay

import "jumpstarter.dev/service/pkg/tunnel/wire"

// queueChunkSize is the size of the pooled buffers a queue copies bytes into.
const queueChunkSize = 16 << 10

// chunk is a run of queued bytes in a pooled buffer: (*buf)[off:end].
type chunk struct {
	buf      *[]byte
	off, end int
	// credit: the bytes came from the source stream, which is credited as they go.
	credit bool
}

// chunkQueue is a FIFO of bytes waiting for a window, for headers, or for a blocking writer.
// It copies what it is given, so callers may reuse their buffers at once.
type chunkQueue struct {
	chunks []chunk
	n      int // bytes queued
}

// push appends a copy of p.
func (q *chunkQueue) push(p []byte, credit bool) {
	pool := wire.BufferPool()
	q.n += len(p)
	for len(p) > 0 {
		if k := len(q.chunks); k > 0 {
			last := &q.chunks[k-1]
			if last.credit == credit && last.end < len(*last.buf) {
				c := copy((*last.buf)[last.end:], p)
				last.end += c
				p = p[c:]
				continue
			}
		}
		buf := pool.Get(max(queueChunkSize, min(len(p), 64<<10)))
		c := copy(*buf, p)
		q.chunks = append(q.chunks, chunk{buf: buf, end: c, credit: credit})
		p = p[c:]
	}
}

// front is the first run of queued bytes and whether they carry credit.
func (q *chunkQueue) front() ([]byte, bool) {
	if len(q.chunks) == 0 {
		return nil, false
	}
	c := &q.chunks[0]
	return (*c.buf)[c.off:c.end], c.credit
}

// consume drops the first n bytes, which must be within the front run.
func (q *chunkQueue) consume(n int) {
	c := &q.chunks[0]
	c.off += n
	q.n -= n
	if c.off == c.end {
		wire.BufferPool().Put(c.buf)
		q.chunks[0] = chunk{}
		q.chunks = q.chunks[1:]
		if len(q.chunks) == 0 {
			q.chunks = nil // let the backing array go: an idle stream keeps nothing
		}
	}
}

// popChunk takes the front run out of the queue; the caller puts back its buffer.
func (q *chunkQueue) popChunk() (chunk, bool) {
	if len(q.chunks) == 0 {
		return chunk{}, false
	}
	c := q.chunks[0]
	q.chunks[0] = chunk{}
	q.chunks = q.chunks[1:]
	if len(q.chunks) == 0 {
		q.chunks = nil
	}
	q.n -= c.end - c.off
	return c, true
}

// reset drops everything and returns how many of the dropped bytes carried credit.
func (q *chunkQueue) reset() (credited int) {
	for _, c := range q.chunks {
		if c.credit {
			credited += c.end - c.off
		}
		wire.BufferPool().Put(c.buf)
	}
	q.chunks = nil
	q.n = 0
	return credited
}
