package wire

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// Field numbers of StreamRequest and StreamResponse (wire contract §2.3).
const (
	fieldPayload   protowire.Number = 1
	fieldFrameType protowire.Number = 2
)

// ErrMalformedFrame is returned for bytes that are not a StreamRequest/StreamResponse.
var ErrMalformedFrame = errors.New("malformed tunnel frame")

// Frame is one StreamRequest or StreamResponse in serialized form. Codec fills it on receive
// and drains it on send, so a received Frame can be sent on as it is. Whoever holds a Frame
// with Data owns one reference to its buffers: sending it passes the reference on, otherwise
// Free releases it.
type Frame struct {
	Data mem.BufferSlice
}

// Free releases the frame's buffers, if it still holds any.
func (f *Frame) Free() {
	if f.Data != nil {
		f.Data.Free()
		f.Data = nil
	}
}

// FrameInfo is what a router needs to know of a frame: its type and where its payload is.
type FrameInfo struct {
	Type jumpstarterv1.FrameType
	// PayloadOffset and PayloadLen locate the payload bytes in the frame's data.
	PayloadOffset, PayloadLen int
}

// Info reads the frame type and locates the payload, skipping the payload itself. Fields
// may come in any order and unknown fields are skipped, as a protobuf parser would; a field
// that repeats wins with its last occurrence.
func (f *Frame) Info() (FrameInfo, error) {
	var info FrameInfo
	c := cursor{bufs: f.Data}
	for !c.done() {
		tag, err := c.varint()
		if err != nil {
			return FrameInfo{}, err
		}
		num, typ := protowire.DecodeTag(tag)
		if num <= 0 {
			return FrameInfo{}, fmt.Errorf("%w: field number %d", ErrMalformedFrame, num)
		}
		switch {
		case num == fieldPayload && typ == protowire.BytesType:
			n, err := c.varint()
			if err != nil {
				return FrameInfo{}, err
			}
			info.PayloadOffset, info.PayloadLen = c.pos, int(n)
			if err := c.skip(n); err != nil {
				return FrameInfo{}, err
			}
		case num == fieldFrameType && typ == protowire.VarintType:
			v, err := c.varint()
			if err != nil {
				return FrameInfo{}, err
			}
			info.Type = jumpstarterv1.FrameType(int32(v))
		default:
			if err := c.skipField(typ); err != nil {
				return FrameInfo{}, err
			}
		}
	}
	return info, nil
}

// Payload returns views of the payload bytes in order, without copying; they are valid while
// the frame holds its data.
func (f *Frame) Payload(info FrameInfo, dst [][]byte) [][]byte {
	off, left := info.PayloadOffset, info.PayloadLen
	for _, b := range f.Data {
		if left == 0 {
			break
		}
		data := b.ReadOnlyData()
		if off >= len(data) {
			off -= len(data)
			continue
		}
		seg := data[off:]
		off = 0
		if len(seg) > left {
			seg = seg[:left]
		}
		dst = append(dst, seg)
		left -= len(seg)
	}
	return dst
}

// goAway is a StreamRequest{frame_type: GOAWAY} serialized (empty payload is omitted).
var goAway = protowire.AppendVarint(protowire.AppendTag(nil, fieldFrameType, protowire.VarintType), uint64(jumpstarterv1.FrameType_FRAME_TYPE_GOAWAY))

// rstStream is a StreamRequest{frame_type: RST_STREAM} serialized.
var rstStream = protowire.AppendVarint(protowire.AppendTag(nil, fieldFrameType, protowire.VarintType), uint64(jumpstarterv1.FrameType_FRAME_TYPE_RST_STREAM))

// GoAwayFrame is a new GOAWAY frame: the sender has finished writing.
func GoAwayFrame() *Frame { return &Frame{Data: mem.BufferSlice{mem.SliceBuffer(goAway)}} }

// RSTFrame is a new RST_STREAM frame: the sender aborts the tunnel.
func RSTFrame() *Frame { return &Frame{Data: mem.BufferSlice{mem.SliceBuffer(rstStream)}} }

// MaxDataHeaderLen is the most bytes DataHeader appends: a one-byte tag and a varint length
// (five bytes cover any length under 32 GiB).
const MaxDataHeaderLen = 6

// DataHeader appends what precedes n payload bytes in a DATA frame: frame_type is DATA, the
// zero value, so it is omitted as proto3 does.
func DataHeader(dst []byte, n int) []byte {
	dst = protowire.AppendTag(dst, fieldPayload, protowire.BytesType)
	return protowire.AppendVarint(dst, uint64(n))
}

// DataFrame is a DATA frame of payload, which it takes over (one reference). Small payloads
// are copied next to their header, larger ones are referenced.
func DataFrame(payload mem.Buffer) *Frame {
	n := payload.Len()
	if mem.IsBelowBufferPoolingThreshold(n + MaxDataHeaderLen) {
		b := DataHeader(make([]byte, 0, n+MaxDataHeaderLen), n)
		b = append(b, payload.ReadOnlyData()...)
		payload.Free()
		return &Frame{Data: mem.BufferSlice{mem.SliceBuffer(b)}}
	}
	return &Frame{Data: mem.BufferSlice{mem.SliceBuffer(DataHeader(make([]byte, 0, MaxDataHeaderLen), n)), payload}}
}

// cursor reads protobuf primitives across the buffers of a BufferSlice.
type cursor struct {
	bufs mem.BufferSlice
	i    int // current buffer
	off  int // offset in bufs[i]
	pos  int // offset from the start of the frame
}

func (c *cursor) done() bool {
	for c.i < len(c.bufs) && c.off >= c.bufs[c.i].Len() {
		c.i++
		c.off = 0
	}
	return c.i >= len(c.bufs)
}

func (c *cursor) byte() (byte, error) {
	if c.done() {
		return 0, fmt.Errorf("%w: truncated", ErrMalformedFrame)
	}
	b := c.bufs[c.i].ReadOnlyData()[c.off]
	c.off++
	c.pos++
	return b, nil
}

func (c *cursor) varint() (uint64, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		b, err := c.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: varint overflows", ErrMalformedFrame)
}

func (c *cursor) skip(n uint64) error {
	for n > 0 {
		if c.done() {
			return fmt.Errorf("%w: truncated", ErrMalformedFrame)
		}
		avail := uint64(c.bufs[c.i].Len() - c.off)
		step := min(avail, n)
		c.off += int(step)
		c.pos += int(step)
		n -= step
	}
	return nil
}

func (c *cursor) skipField(typ protowire.Type) error {
	switch typ {
	case protowire.VarintType:
		_, err := c.varint()
		return err
	case protowire.Fixed32Type:
		return c.skip(4)
	case protowire.Fixed64Type:
		return c.skip(8)
	case protowire.BytesType:
		n, err := c.varint()
		if err != nil {
			return err
		}
		return c.skip(n)
	default:
		return fmt.Errorf("%w: wire type %d", ErrMalformedFrame, typ)
	}
}
