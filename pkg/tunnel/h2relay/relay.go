package h2relay

import (
	"errors"

	"jumpstarter.dev/service/pkg/tunnel/wire"
)

// relayResult is what relaying a piece of a source stream did.
type relayResult struct {
	credit int // source bytes to credit now
	ev     event
	err    error
}

// onData handles a DATA frame's bytes (data, without padding; pad bytes of padding and pad
// length) on the connection's reader.
func (s *Stream) onData(data []byte, pad int, end bool) error {
	s.rmu.Lock()
	if s.recvDone.Load() {
		s.rmu.Unlock()
		s.c.credit(nil, len(data)+pad)
		return errStreamClosed
	}
	if end {
		s.recvDone.Store(true)
	}
	if s.closed.Load() {
		s.rmu.Unlock()
		s.c.credit(s, len(data)+pad)
		return nil
	}
	if s.kind == kindHealth {
		err := s.collectHealth(data, end)
		s.rmu.Unlock()
		s.c.credit(s, len(data)+pad)
		return err
	}
	if s.dst == nil && s.bytes == nil {
		// Not linked yet: hold the bytes, uncredited, so the window bounds them.
		s.held.push(data, true)
		s.heldEnd = s.heldEnd || end
		s.rmu.Unlock()
		s.c.credit(s, pad)
		return nil
	}
	res := s.relayLocked(data, end)
	res.credit += pad
	s.finishRelayLocked(res)
	return nil
}

// relayLocked relays a piece of the source stream (end: its END_STREAM) to the linked sink;
// rmu is held.
func (s *Stream) relayLocked(data []byte, end bool) relayResult {
	var res relayResult
	if s.doneSent {
		res.credit = len(data)
		return res
	}
	p := &s.parser
	p.payload = 0
	if dst := s.dst; dst != nil {
		o := &s.runOut
		o.written, o.skipped = 0, 0
		dst.c.wmu.Lock()
		res.ev, res.err = p.feed(data, o)
		o.flush()
		if end && res.err == nil && res.ev == evNone {
			if !p.atBoundary() {
				res.err = ErrMalformed
			} else if !p.over {
				dst.writeLocked(goAwayMessage, false) // a half-close means GOAWAY (§3.10)
				res.ev = evEnd
			}
		}
		// Flush at the end of a message (a gRPC peer can do nothing with part of one), when
		// the direction ends, or when bytes wait for a window (so the peer can grant more).
		if p.atBoundary() || res.ev != evNone || res.err != nil || dst.pending.n > 0 {
			dst.c.flushLocked()
		}
		dst.c.wmu.Unlock()
		res.credit = o.written + o.skipped
	} else {
		o := &s.runBytes
		o.skipped = 0
		before := s.outq.n
		res.ev, res.err = p.feed(data, o)
		res.credit = len(data) - (s.outq.n - before) // the rest is credited as it is written
		if end && res.err == nil && res.ev == evNone {
			if !p.atBoundary() {
				res.err = ErrMalformed
			} else {
				res.ev = evEnd
			}
		}
		if res.ev == evEnd {
			s.outEnd = true
		}
		if (s.outq.n > 0 || s.outEnd) && !s.writing && res.err == nil && res.ev != evReset {
			s.writing = true
			go s.writeBytes()
		}
	}
	if n := p.payload; n > 0 {
		if s.counters.Received != nil {
			s.counters.Received.Add(float64(n))
		}
		if s.dst != nil && s.counters.Sent != nil {
			s.counters.Sent.Add(float64(n))
		}
	}
	if p.over || res.err != nil || res.ev == evReset {
		p.release()
	}
	return res
}

// finishRelayLocked unlocks rmu, credits the source, and reports the end of the direction.
func (s *Stream) finishRelayLocked(res relayResult) {
	var done func(error)
	var err error
	switch {
	case res.err != nil:
		err = res.err
	case res.ev == evReset:
		err = ErrReset
	}
	if !s.doneSent && (err != nil || res.ev == evEnd && s.dst != nil) {
		s.doneSent, done = true, s.done
		if err != nil {
			s.outq.reset()
		}
	}
	if err != nil || res.ev != evNone {
		s.parser.over = true
	}
	s.rmu.Unlock()
	s.c.credit(s, res.credit)
	if done != nil {
		done(err)
	}
}

// writeBytes writes what is queued for a byte sink, then exits; it passes the end on and
// reports it.
func (s *Stream) writeBytes() {
	for {
		s.rmu.Lock()
		if s.closed.Load() || s.doneSent {
			s.writing = false
			n := s.outq.reset()
			s.rmu.Unlock()
			s.c.credit(nil, n)
			return
		}
		ch, ok := s.outq.popChunk()
		if !ok {
			s.writing = false
			if !s.outEnd {
				s.rmu.Unlock()
				return
			}
			s.outEnd = false
			s.doneSent = true
			done := s.done
			s.rmu.Unlock()
			done(s.bytes.CloseWrite())
			return
		}
		sink := s.bytes
		s.rmu.Unlock()
		n := ch.end - ch.off
		_, err := sink.Write((*ch.buf)[ch.off:ch.end])
		wire.BufferPool().Put(ch.buf)
		if err != nil {
			s.rmu.Lock()
			s.writing = false
			dropped := s.outq.reset()
			report := !s.doneSent
			s.doneSent = true
			done := s.done
			s.rmu.Unlock()
			s.c.credit(s, n+dropped)
			if report {
				done(err)
			}
			return
		}
		s.c.credit(s, n)
	}
}

// collectHealth gathers a health check request; rmu is held.
func (s *Stream) collectHealth(data []byte, end bool) error {
	if s.held.n+len(data) > smallMessage {
		return errTooLarge
	}
	s.held.push(data, false)
	if end {
		s.c.serveHealth(s)
	}
	return nil
}

var (
	errStreamClosed = errors.New("h2relay: DATA after END_STREAM")
	errTooLarge     = errors.New("h2relay: request too large")
	errDeadline     = errors.New("h2relay: grpc-timeout passed")
)
