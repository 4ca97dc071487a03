package h2relay

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ByteSink is a sink that is not a stream of this server (a QUIC stream): it takes the
// payload bytes of DATA frames, and blocks while it cannot take more.
type ByteSink interface {
	Write(p []byte) (int, error)
	// CloseWrite passes the end of the direction on.
	CloseWrite() error
}

// Counter counts forwarded payload bytes (a prometheus.Counter is one).
type Counter interface{ Add(float64) }

// Counters are the payload byte counters of a link: received from the source, sent to the
// sink (for a stream sink; a ByteSink counts its own).
type Counters struct {
	Received, Sent Counter
}

// streamKind is what a stream serves.
type streamKind uint8

const (
	kindRelay  streamKind = iota // Options.Method, relayed
	kindHealth                   // grpc.health.v1.Health/Check
)

// Stream is a stream of Options.Method: the relay's unit. The handler links it to its peer
// (Link, LinkBytes) once paired; until then what its client sends is held, within the window
// it was granted.
type Stream struct {
	c    *conn
	id   uint32
	kind streamKind

	// closed: trailers or RST_STREAM went out, or the client reset the stream; from then on
	// what arrives for it is dropped.
	closed atomic.Bool
	// recvDone: the client's END_STREAM arrived.
	recvDone atomic.Bool
	// recvWindow is what the client may still send; unacked is what it sent that we
	// consumed but did not credit yet.
	recvWindow atomic.Int64
	unacked    atomic.Int64
	timer      *time.Timer // grpc-timeout

	// Receive side, under rmu.
	rmu      sync.Mutex
	held     chunkQueue // before a link: bytes waiting for it
	heldEnd  bool       // END_STREAM arrived before the link
	parser   parser
	dst      *Stream  // stream sink
	bytes    ByteSink // byte sink
	counters Counters
	done     func(error) // called once when the direction ends
	doneSent bool
	onGone   func(error)
	outq     chunkQueue // byte sink: payload bytes waiting for the writer
	outEnd   bool       // byte sink: pass the end on after outq
	writing  bool       // byte sink: the writer goroutine runs
	runOut   streamOut
	runBytes bytesOut

	// Send side, under c.wmu.
	sendWindow  int64
	pending     chunkQueue // bytes waiting for a window or for the response headers
	source      *Stream    // whom the credited bytes of pending came from
	headersSent bool
	blocked     bool // in c.blocked
	finishReq   bool // end with OK once pending is sent
	finishExtra []hpack.HeaderField
	wake        chan struct{} // WriteData waits for pending to drain
}

// OnGone sets what to call, once, when the stream is reset by its client, its connection is
// lost, or its grpc-timeout passes. Set it in the handler, before it returns.
func (s *Stream) OnGone(f func(error)) {
	s.rmu.Lock()
	s.onGone = f
	s.rmu.Unlock()
}

// Accept sends the response headers (:status 200, content-type, extra), then whatever was
// queued for the stream before.
func (s *Stream) Accept(extra ...hpack.HeaderField) error {
	c := s.c
	var credits creditList
	c.wmu.Lock()
	if s.closed.Load() || s.headersSent {
		c.wmu.Unlock()
		return ErrClosed
	}
	fields := append(make([]hpack.HeaderField, 0, 2+len(extra)), responseHeaders...)
	c.headersLocked(s.id, append(fields, extra...), false)
	s.headersSent = true
	c.sendPendingLocked(s, &credits)
	c.flushLocked()
	err := c.werr
	c.wmu.Unlock()
	credits.apply()
	return err
}

// Finish ends the stream with status OK (and extra trailers), after what is queued for it.
func (s *Stream) Finish(extra ...hpack.HeaderField) {
	c := s.c
	c.wmu.Lock()
	if s.closed.Load() || s.finishReq {
		c.wmu.Unlock()
		return
	}
	if s.pending.n > 0 || !s.headersSent && s.pending.n > 0 {
		s.finishReq, s.finishExtra = true, extra
		c.wmu.Unlock()
		return
	}
	c.trailersLocked(s, status.New(codes.OK, ""), extra)
	c.flushLocked()
	c.wmu.Unlock()
	s.closeDone()
}

// Abort ends the stream with st at once, dropping what is queued for it. The first end wins.
func (s *Stream) Abort(st *status.Status, extra ...hpack.HeaderField) {
	c := s.c
	c.wmu.Lock()
	if s.closed.Load() {
		c.wmu.Unlock()
		return
	}
	dropped := s.pending.reset()
	source := s.source
	c.trailersLocked(s, st, extra)
	c.flushLocked()
	c.wmu.Unlock()
	if source != nil && dropped > 0 {
		source.c.credit(nil, dropped)
	}
	s.closeDone()
}

// trailersLocked ends the stream: trailers (or a trailers-only response), then RST_STREAM
// NO_ERROR if the client has not finished sending, so that it stops.
func (c *conn) trailersLocked(s *Stream, st *status.Status, extra []hpack.HeaderField) {
	var fields []hpack.HeaderField
	if !s.headersSent {
		fields = append(fields, responseHeaders...)
	}
	fields = appendStatus(fields, st)
	fields = append(fields, extra...)
	c.headersLocked(s.id, fields, true)
	s.headersSent = true
	if !s.recvDone.Load() {
		c.rstLocked(s.id, http2.ErrCodeNo)
	}
	s.closed.Store(true)
	s.finishReq = false
	c.unblockLocked(s)
	s.signalWake()
}

// signalWake tells a WriteData waiting for pending bytes to drain to look again; it never
// blocks. wmu held.
func (s *Stream) signalWake() {
	if s.wake == nil {
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// closeDone forgets a stream that we closed.
func (s *Stream) closeDone() {
	if s.timer != nil {
		s.timer.Stop()
	}
	s.c.forget(s)
	s.rmu.Lock()
	s.dropReceived()
	s.rmu.Unlock()
}

// dropReceived releases what the receive side holds; rmu held.
func (s *Stream) dropReceived() {
	if n := s.held.reset(); n > 0 {
		s.c.credit(nil, n)
	}
	s.parser.collecting = false
	s.parser.release()
	if !s.writing {
		if n := s.outq.reset(); n > 0 {
			s.c.credit(nil, n)
		}
	}
}

// gone ends a stream its client reset, whose connection is lost, or whose deadline passed.
func (s *Stream) gone(err error) {
	c := s.c
	c.wmu.Lock()
	wasClosed := s.closed.Swap(true)
	dropped := s.pending.reset()
	source := s.source
	c.unblockLocked(s)
	s.signalWake()
	c.wmu.Unlock()
	if source != nil && dropped > 0 {
		source.c.credit(nil, dropped)
	}
	s.closeDone()
	if wasClosed {
		return
	}
	s.rmu.Lock()
	f := s.onGone
	s.onGone = nil
	s.rmu.Unlock()
	if f != nil {
		f(err)
	}
}

// expire ends a stream whose grpc-timeout passed.
func (s *Stream) expire() {
	s.Abort(status.New(codes.DeadlineExceeded, "context deadline exceeded"))
	s.rmu.Lock()
	f := s.onGone
	s.onGone = nil
	s.rmu.Unlock()
	if f != nil {
		f(errDeadline)
	}
}

// Link forwards what the stream's client sends into dst, another stream of this server,
// message by message as it comes, and calls done once the direction ended: nil once a
// GOAWAY went on (the source's, or one for its END_STREAM), else ErrReset or ErrMalformed.
// It does not call done if the stream is gone (OnGone says so).
func (s *Stream) Link(dst *Stream, counters Counters, done func(error)) {
	dst.c.wmu.Lock()
	dst.source = s
	dst.c.wmu.Unlock()
	s.rmu.Lock()
	s.dst, s.counters, s.done = dst, counters, done
	s.parser.verbatim = true
	s.runOut = streamOut{dst: dst}
	s.drainHeldLocked()
}

// LinkBytes is Link for a sink that takes payload bytes and blocks: they are written by a
// goroutine that runs while some are queued; done is called after dst.CloseWrite.
func (s *Stream) LinkBytes(dst ByteSink, counters Counters, done func(error)) {
	s.rmu.Lock()
	s.bytes, s.counters, s.done = dst, counters, done
	s.runBytes = bytesOut{q: &s.outq}
	s.drainHeldLocked()
}

// drainHeldLocked relays what came before the link; it unlocks rmu.
func (s *Stream) drainHeldLocked() {
	held := s.held
	s.held = chunkQueue{}
	var res relayResult
	for _, ch := range held.chunks {
		r := s.relayLocked((*ch.buf)[ch.off:ch.end], false)
		res.credit += r.credit
		if r.err != nil || r.ev != evNone {
			res.ev, res.err = r.ev, r.err
			break
		}
	}
	if res.err == nil && res.ev == evNone && s.heldEnd {
		r := s.relayLocked(nil, true)
		res.ev, res.err = r.ev, r.err
		res.credit += r.credit
	}
	held.reset()
	s.finishRelayLocked(res)
}

// WriteData sends p as the payload of one DATA tunnel frame (from a source that is not a
// stream of this server). It blocks while much is queued for the stream.
func (s *Stream) WriteData(p []byte) error {
	var hdr [prefixLen + 6]byte
	return s.writeMessage(dataMessagePrefix(hdr[:0], len(p)), p)
}

// CloseWrite sends a GOAWAY tunnel frame: the source has finished.
func (s *Stream) CloseWrite() error { return s.writeMessage(goAwayMessage, nil) }

func (s *Stream) writeMessage(head, body []byte) error {
	c := s.c
	c.wmu.Lock()
	if s.closed.Load() {
		c.wmu.Unlock()
		return ErrClosed
	}
	s.writeLocked(head, false)
	if len(body) > 0 {
		s.writeLocked(body, false)
	}
	c.flushLocked()
	for s.pending.n > writerPendingMax && !s.closed.Load() && c.werr == nil {
		if s.wake == nil {
			s.wake = make(chan struct{}, 1)
		}
		wake := s.wake
		c.wmu.Unlock()
		<-wake
		c.wmu.Lock()
	}
	err := c.werr
	if err == nil && s.closed.Load() {
		err = ErrClosed
	}
	c.wmu.Unlock()
	return err
}

// writeLocked sends p on the stream as far as the windows allow and queues the rest; credit
// says the bytes are the source's, to be credited when they go. It returns what it sent.
func (s *Stream) writeLocked(p []byte, credit bool) int {
	c := s.c
	if s.closed.Load() {
		return len(p) // dropped: nobody will take them
	}
	if !s.headersSent || s.pending.n > 0 {
		s.pending.push(p, credit)
		c.blockLocked(s)
		return 0
	}
	n := c.dataLocked(s, p)
	if n < len(p) {
		s.pending.push(p[n:], credit)
		c.blockLocked(s)
	}
	return n
}

// streamOut forwards a source's messages into a stream sink, coalescing adjacent bytes into
// one write; the sink's c.wmu is held.
type streamOut struct {
	dst     *Stream
	run     []byte
	written int // sent now: credited now
	skipped int
}

func (o *streamOut) put(p []byte, _ bool) {
	if len(p) == 0 {
		return
	}
	if k := len(o.run); k > 0 && cap(o.run)-k >= len(p) && &o.run[k:cap(o.run)][0] == &p[0] {
		o.run = o.run[:k+len(p)]
		return
	}
	o.flush()
	o.run = p
}

func (o *streamOut) skip(n int) { o.skipped += n }

func (o *streamOut) flush() {
	if len(o.run) > 0 {
		o.written += o.dst.writeLocked(o.run, true)
		o.run = nil
	}
}

// bytesOut queues a source's payload bytes for a byte sink's writer; rmu is held.
type bytesOut struct {
	q       *chunkQueue
	skipped int
}

func (o *bytesOut) put(p []byte, _ bool) { o.q.push(p, true) }
func (o *bytesOut) skip(n int)           { o.skipped += n }

// creditList collects credits to give once no lock is held.
type creditList struct {
	n       int
	entries [4]creditEntry
	more    []creditEntry
}

type creditEntry struct {
	s *Stream
	n int
}

func (l *creditList) add(s *Stream, n int) {
	if n == 0 || s == nil {
		return
	}
	for i := range min(l.n, len(l.entries)) {
		if l.entries[i].s == s {
			l.entries[i].n += n
			return
		}
	}
	if l.n < len(l.entries) {
		l.entries[l.n] = creditEntry{s, n}
	} else {
		l.more = append(l.more, creditEntry{s, n})
	}
	l.n++
}

func (l *creditList) apply() {
	for i := range min(l.n, len(l.entries)) {
		e := l.entries[i]
		e.s.c.credit(e.s, e.n)
	}
	for _, e := range l.more {
		e.s.c.credit(e.s, e.n)
	}
}
