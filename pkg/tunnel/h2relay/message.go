package h2relay

import (
	"encoding/binary"
	"errors"

	"google.golang.org/protobuf/encoding/protowire"

	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
	"jumpstarter.dev/service/pkg/tunnel/wire"
)

// Errors a relayed direction ends with, passed to the done function of Link and LinkBytes.
var (
	// ErrReset: the source sent a RST_STREAM tunnel frame.
	ErrReset = errors.New("h2relay: the source reset the tunnel")
	// ErrMalformed: the source sent bytes that are not tunnel frames in gRPC messages.
	ErrMalformed = errors.New("h2relay: malformed gRPC message or tunnel frame")
	// ErrStreamGone: the HTTP/2 stream was reset by its client, or its connection is gone.
	ErrStreamGone = errors.New("h2relay: stream reset or connection lost")
	// ErrClosed: the stream is already closed on our side.
	ErrClosed = errors.New("h2relay: stream closed")
)

const (
	// prefixLen is the gRPC message prefix: compressed flag and big-endian length.
	prefixLen = 5
	// smallMessage bounds a message collected whole when it spans frames, so that it can be
	// classified (a PING dropped) before any of it goes on; larger ones are streamed.
	smallMessage = 4 << 10
)

const (
	fieldPayload   protowire.Number = 1
	fieldFrameType protowire.Number = 2
)

var (
	typeGoAway = int32(jumpstarterv1.FrameType_FRAME_TYPE_GOAWAY)
	typePing   = int32(jumpstarterv1.FrameType_FRAME_TYPE_PING)
	typeRST    = int32(jumpstarterv1.FrameType_FRAME_TYPE_RST_STREAM)
	typeData   = int32(jumpstarterv1.FrameType_FRAME_TYPE_DATA)
)

// goAwayMessage is a GOAWAY tunnel frame as a gRPC message, sent on for a half-close.
var goAwayMessage = func() []byte {
	body := protowire.AppendVarint(protowire.AppendTag(nil, fieldFrameType, protowire.VarintType), uint64(typeGoAway))
	return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(body))), body...)
}()

// dataMessagePrefix appends the gRPC prefix and the StreamResponse header of a DATA frame of
// n payload bytes.
func dataMessagePrefix(dst []byte, n int) []byte {
	hdr := wire.DataHeader(make([]byte, 0, wire.MaxDataHeaderLen), n)
	dst = append(dst, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(hdr)+n))
	return append(dst, hdr...)
}

// fieldParser reads the fields of a StreamRequest/StreamResponse incrementally, so that a
// message can be classified and its payload located while it streams through.
type fieldParser struct {
	state    fieldState
	varint   uint64
	shift    uint
	typ      protowire.Type
	num      protowire.Number
	left     uint64 // bytes left of a skipped field or of the payload
	frameTyp int32  // the last frame_type seen
}

type fieldState uint8

const (
	stateTag fieldState = iota
	stateVarint
	stateLen
	stateSkip
	statePayload
)

// atBoundary reports whether the parser is between fields (a message may end here).
func (fp *fieldParser) atBoundary() bool { return fp.state == stateTag && fp.shift == 0 }

// readVarint feeds one byte to the varint being read; done when it is complete.
func (fp *fieldParser) readVarint(b byte) (done bool, err error) {
	if fp.shift >= 64 {
		return false, ErrMalformed
	}
	fp.varint |= uint64(b&0x7f) << fp.shift
	fp.shift += 7
	return b < 0x80, nil
}

// next consumes the longest start of p that is all payload or all not, and says which.
func (fp *fieldParser) next(p []byte) (n int, payload bool, err error) {
	if fp.state == statePayload {
		n = int(min(fp.left, uint64(len(p))))
		fp.left -= uint64(n)
		if fp.left == 0 {
			fp.state = stateTag
		}
		return n, true, nil
	}
	for n < len(p) {
		switch fp.state {
		case statePayload:
			return n, false, nil
		case stateSkip:
			k := int(min(fp.left, uint64(len(p)-n)))
			fp.left -= uint64(k)
			n += k
			if fp.left == 0 {
				fp.state = stateTag
			}
			continue
		}
		done, err := fp.readVarint(p[n])
		n++
		if err != nil {
			return n, false, err
		}
		if !done {
			continue
		}
		v := fp.varint
		fp.varint, fp.shift = 0, 0
		switch fp.state {
		case stateTag:
			num, typ := protowire.DecodeTag(v)
			if num <= 0 {
				return n, false, ErrMalformed
			}
			fp.num, fp.typ = num, typ
			switch typ {
			case protowire.VarintType:
				fp.state = stateVarint
			case protowire.Fixed32Type:
				fp.state, fp.left = stateSkip, 4
			case protowire.Fixed64Type:
				fp.state, fp.left = stateSkip, 8
			case protowire.BytesType:
				fp.state = stateLen
			default:
				return n, false, ErrMalformed
			}
		case stateVarint:
			if fp.num == fieldFrameType {
				fp.frameTyp = int32(v)
			}
			fp.state = stateTag
		case stateLen:
			if v > wire.MaxRecvMessage {
				return n, false, ErrMalformed
			}
			fp.left = v
			switch {
			case v == 0:
				fp.state = stateTag
			case fp.num == fieldPayload:
				fp.state = statePayload
			default:
				fp.state = stateSkip
			}
		}
	}
	return n, false, nil
}

// out receives what a source forwards, while the sink's lock (if any) is held.
type out interface {
	// put forwards p, bytes of messages; payload says whether they are DATA payload bytes.
	put(p []byte, payload bool)
	// skip accounts for n bytes that are not forwarded (credited at once).
	skip(n int)
}

// event is what a message meant besides its bytes.
type event uint8

const (
	evNone  event = iota
	evEnd         // a GOAWAY went on: the direction is over
	evReset       // RST_STREAM: abort the tunnel
)

// parser splits a source stream's DATA bytes into messages and forwards them to an out:
// verbatim for a stream sink, payload bytes only for a byte sink.
type parser struct {
	verbatim bool
	prefix   [prefixLen]byte
	prefixN  int
	bodyLeft int
	// collecting: a small message spanning frames is gathered in small before it goes on.
	collecting bool
	small      *[]byte
	smallN     int
	// streaming: a large message goes on as it comes; fp classifies it at its end.
	streaming bool
	fp        fieldParser
	// over: a GOAWAY went on; whatever follows is dropped.
	over bool
	// payload counts the DATA payload bytes of the current feed, for metrics.
	payload int
}

// atBoundary reports whether no message is in progress.
func (p *parser) atBoundary() bool { return p.prefixN == 0 }

// release gives back the collection buffer once nothing refers to it any more.
func (p *parser) release() {
	if p.small != nil && !p.collecting {
		wire.BufferPool().Put(p.small)
		p.small = nil
	}
}

// feed parses data, a piece of the stream, and forwards what it can to o.
func (p *parser) feed(data []byte, o out) (event, error) {
	ended := evNone
	for len(data) > 0 {
		if p.over {
			o.skip(len(data))
			return ended, nil
		}
		if p.prefixN < prefixLen {
			if p.prefixN == 0 && len(data) >= prefixLen {
				// The common case: a message starts in this piece.
				n, err := p.bodyLen(data[:prefixLen])
				if err != nil {
					return evNone, err
				}
				if total := prefixLen + n; len(data) >= total {
					ev, err := p.whole(data[:total], o)
					if err != nil || ev == evReset {
						return ev, err
					}
					if ev == evEnd {
						p.over, ended = true, evEnd
					}
					data = data[total:]
					continue
				}
				copy(p.prefix[:], data[:prefixLen])
				p.prefixN, p.bodyLeft = prefixLen, n
				p.begin(data[:prefixLen], o)
				data = data[prefixLen:]
				continue
			}
			k := copy(p.prefix[p.prefixN:], data)
			p.prefixN += k
			data = data[k:]
			if p.prefixN < prefixLen {
				break
			}
			n, err := p.bodyLen(p.prefix[:])
			if err != nil {
				return evNone, err
			}
			p.bodyLeft = n
			p.begin(p.prefix[:], o)
			if n == 0 {
				ev, err := p.complete(o)
				if err != nil || ev == evReset {
					return ev, err
				}
				if ev == evEnd {
					p.over, ended = true, evEnd
				}
			}
			continue
		}
		// Body bytes of a message that began in an earlier piece.
		k := min(len(data), p.bodyLeft)
		body := data[:k]
		data = data[k:]
		p.bodyLeft -= k
		if p.collecting {
			p.smallN += copy((*p.small)[p.smallN:], body)
		} else if err := p.stream(body, o); err != nil {
			return evNone, err
		}
		if p.bodyLeft == 0 {
			ev, err := p.complete(o)
			if err != nil || ev == evReset {
				return ev, err
			}
			if ev == evEnd {
				p.over, ended = true, evEnd
			}
		}
	}
	return ended, nil
}

// bodyLen reads a message prefix.
func (p *parser) bodyLen(prefix []byte) (int, error) {
	if prefix[0] != 0 {
		return 0, ErrMalformed // compressed: we never negotiated an encoding
	}
	n := binary.BigEndian.Uint32(prefix[1:])
	if n > wire.MaxRecvMessage {
		return 0, ErrMalformed
	}
	return int(n), nil
}

// begin starts a message that spans pieces: small ones are collected, large ones streamed.
func (p *parser) begin(prefix []byte, o out) {
	if prefixLen+p.bodyLeft <= smallMessage {
		p.collecting = true
		if p.small == nil {
			p.small = wire.BufferPool().Get(smallMessage)
		}
		p.smallN = copy(*p.small, prefix)
		return
	}
	p.streaming = true
	p.fp = fieldParser{}
	if p.verbatim {
		o.put(prefix, false)
	} else {
		o.skip(prefixLen)
	}
}

// stream forwards body bytes of a streamed message.
func (p *parser) stream(body []byte, o out) error {
	for len(body) > 0 {
		n, isPayload, err := p.fp.next(body)
		if err != nil {
			return err
		}
		seg := body[:n]
		body = body[n:]
		if isPayload {
			p.payload += n
		}
		switch {
		case p.verbatim:
			o.put(seg, isPayload)
		case isPayload:
			o.put(seg, true)
		default:
			o.skip(n)
		}
	}
	return nil
}

// complete ends a message that spanned pieces.
func (p *parser) complete(o out) (event, error) {
	p.prefixN = 0
	if p.collecting {
		p.collecting = false
		return p.whole((*p.small)[:p.smallN], o)
	}
	p.streaming = false
	if !p.fp.atBoundary() {
		return evNone, ErrMalformed
	}
	switch p.fp.frameTyp {
	case typeGoAway:
		return evEnd, nil
	case typeRST:
		return evReset, nil
	}
	return evNone, nil
}

// whole classifies and forwards a message wholly in hand (prefix included).
func (p *parser) whole(msg []byte, o out) (event, error) {
	var fp fieldParser
	body := msg[prefixLen:]
	var pay []byte
	payOff := 0
	for off := 0; off < len(body); {
		n, isPayload, err := fp.next(body[off:])
		if err != nil {
			return evNone, err
		}
		if isPayload {
			pay, payOff = body[off:off+n], prefixLen+off
		}
		off += n
	}
	if !fp.atBoundary() {
		return evNone, ErrMalformed
	}
	switch fp.frameTyp {
	case typePing:
		o.skip(len(msg)) // a keepalive of this hop; each hop has its own
		return evNone, nil
	case typeRST:
		o.skip(len(msg))
		return evReset, nil
	case typeData:
		p.payload += len(pay)
		if p.verbatim {
			o.put(msg, false)
		} else {
			o.skip(payOff)
			o.put(pay, true)
			o.skip(len(msg) - payOff - len(pay))
		}
		return evNone, nil
	}
	// GOAWAY, or a type we do not know: a gRPC peer skips what it does not know.
	if p.verbatim {
		o.put(msg, false)
	} else {
		o.skip(len(msg))
	}
	if fp.frameTyp == typeGoAway {
		return evEnd, nil
	}
	return evNone, nil
}
