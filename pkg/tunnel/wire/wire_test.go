package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// split cuts b into buffers of n bytes, as a transport may deliver a message.
func split(b []byte, n int) mem.BufferSlice {
	var s mem.BufferSlice
	for len(b) > 0 {
		k := min(n, len(b))
		s = append(s, mem.SliceBuffer(b[:k]))
		b = b[k:]
	}
	return s
}

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFrameInfo(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 70000)
	unknownThenPayload := protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 5)
	unknownThenPayload = append(unknownThenPayload, marshal(t, &jumpstarterv1.StreamRequest{Payload: []byte("abc")})...)
	typeFirst := protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 7)
	typeFirst = protowire.AppendBytes(protowire.AppendTag(typeFirst, 1, protowire.BytesType), []byte("late"))
	tests := []struct {
		name        string
		data        []byte
		wantType    jumpstarterv1.FrameType
		wantPayload []byte
		wantErr     bool
	}{
		{"data", marshal(t, &jumpstarterv1.StreamRequest{Payload: []byte("hello")}), jumpstarterv1.FrameType_FRAME_TYPE_DATA, []byte("hello"), false},
		{"big data", marshal(t, &jumpstarterv1.StreamRequest{Payload: big}), jumpstarterv1.FrameType_FRAME_TYPE_DATA, big, false},
		{"empty data", nil, jumpstarterv1.FrameType_FRAME_TYPE_DATA, nil, false},
		{"goaway", marshal(t, &jumpstarterv1.StreamRequest{FrameType: jumpstarterv1.FrameType_FRAME_TYPE_GOAWAY}), jumpstarterv1.FrameType_FRAME_TYPE_GOAWAY, nil, false},
		{"ping with payload", marshal(t, &jumpstarterv1.StreamRequest{Payload: []byte("p"), FrameType: jumpstarterv1.FrameType_FRAME_TYPE_PING}), jumpstarterv1.FrameType_FRAME_TYPE_PING, []byte("p"), false},
		{"response layout", marshal(t, &jumpstarterv1.StreamResponse{Payload: []byte("r"), FrameType: jumpstarterv1.FrameType_FRAME_TYPE_RST_STREAM}), jumpstarterv1.FrameType_FRAME_TYPE_RST_STREAM, []byte("r"), false},
		{"unknown field skipped", unknownThenPayload, jumpstarterv1.FrameType_FRAME_TYPE_DATA, []byte("abc"), false},
		{"type before payload", typeFirst, jumpstarterv1.FrameType_FRAME_TYPE_GOAWAY, []byte("late"), false},
		{"truncated payload", marshal(t, &jumpstarterv1.StreamRequest{Payload: []byte("hello")})[:4], 0, nil, true},
		{"truncated varint", []byte{0x10, 0x80}, 0, nil, true},
		{"group wire type", []byte{0x0b}, 0, nil, true},
		{"field zero", []byte{0x00, 0x01}, 0, nil, true},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 3, 16384, 1 << 20} {
			f := Frame{Data: split(tt.data, chunk)}
			info, err := f.Info()
			if (err != nil) != tt.wantErr {
				t.Fatalf("%s/%d: Info error %v, want error %v", tt.name, chunk, err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformedFrame) {
					t.Errorf("%s: error %v does not wrap ErrMalformedFrame", tt.name, err)
				}
				continue
			}
			if info.Type != tt.wantType {
				t.Errorf("%s/%d: type %v, want %v", tt.name, chunk, info.Type, tt.wantType)
			}
			got := bytes.Join(f.Payload(info, nil), nil)
			if !bytes.Equal(got, tt.wantPayload) {
				t.Errorf("%s/%d: payload of %d bytes, want %d", tt.name, chunk, len(got), len(tt.wantPayload))
			}
		}
	}
}

func TestFramesWeBuildAreProto(t *testing.T) {
	for _, n := range []int{0, 1, 64, 1000, 5000, 64 << 10} {
		payload := bytes.Repeat([]byte{byte(n)}, n)
		f := DataFrame(mem.SliceBuffer(payload))
		var got jumpstarterv1.StreamResponse
		if err := proto.Unmarshal(f.Data.Materialize(), &got); err != nil {
			t.Fatalf("DataFrame(%d) does not parse: %v", n, err)
		}
		if !bytes.Equal(got.GetPayload(), payload) || got.GetFrameType() != jumpstarterv1.FrameType_FRAME_TYPE_DATA {
			t.Errorf("DataFrame(%d) parses as %d bytes of %v", n, len(got.GetPayload()), got.GetFrameType())
		}
	}
	for name, tc := range map[string]struct {
		f    *Frame
		want jumpstarterv1.FrameType
	}{"goaway": {GoAwayFrame(), jumpstarterv1.FrameType_FRAME_TYPE_GOAWAY}, "rst": {RSTFrame(), jumpstarterv1.FrameType_FRAME_TYPE_RST_STREAM}} {
		var got jumpstarterv1.StreamRequest
		if err := proto.Unmarshal(tc.f.Data.Materialize(), &got); err != nil || got.GetFrameType() != tc.want || len(got.GetPayload()) != 0 {
			t.Errorf("%s frame parses as %v, %v", name, &got, err)
		}
	}
}

func TestCodec(t *testing.T) {
	c := Codec{}
	if c.Name() != "proto" {
		t.Errorf("Name = %q, want proto (the content type peers expect)", c.Name())
	}
	// Frames pass through: Unmarshal keeps the buffers, Marshal hands them back.
	in := split(marshal(t, &jumpstarterv1.StreamRequest{Payload: []byte("zero copy")}), 4)
	var f Frame
	if err := c.Unmarshal(in, &f); err != nil {
		t.Fatal(err)
	}
	out, err := c.Marshal(&f)
	if err != nil {
		t.Fatal(err)
	}
	if f.Data != nil || len(out) != len(in) || &out[0] != &in[0] {
		t.Error("Marshal of a received frame did not hand back the same buffers")
	}
	// Anything else is proto.
	msg := &jumpstarterv1.StreamRequest{Payload: []byte("p"), FrameType: jumpstarterv1.FrameType_FRAME_TYPE_GOAWAY}
	data, err := c.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	var back jumpstarterv1.StreamRequest
	if err := c.Unmarshal(data, &back); err != nil || !proto.Equal(msg, &back) {
		t.Errorf("proto round trip = %v, %v", &back, err)
	}
	if _, err := c.Marshal(struct{}{}); err == nil {
		t.Error("Marshal of a non-proto value succeeded")
	}
}

func TestHeader(t *testing.T) {
	tok := strings.Repeat("t", 700)
	h, err := AppendHeader(nil, tok)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadHeader(bytes.NewReader(h))
	if err != nil || got != tok {
		t.Fatalf("ReadHeader = %d bytes, %v", len(got), err)
	}
	if _, err := AppendHeader(nil, ""); err == nil {
		t.Error("AppendHeader accepted an empty token")
	}
	if _, err := AppendHeader(nil, strings.Repeat("t", MaxTokenLen+1)); err == nil {
		t.Error("AppendHeader accepted an oversized token")
	}
	bad := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"magic", []byte("GET / HTTP/1.1")},
		{"version", []byte{'J', 'T', Version + 1, 0, 1, 'x'}},
		{"zero length", []byte{'J', 'T', Version, 0, 0}},
		{"too long", []byte{'J', 'T', Version, 0xff, 0xff}},
		{"short token", []byte{'J', 'T', Version, 0, 9, 'x'}},
	}
	for _, tt := range bad {
		if _, err := ReadHeader(bytes.NewReader(tt.b)); !errors.Is(err, ErrBadHeader) {
			t.Errorf("%s: ReadHeader = %v, want ErrBadHeader", tt.name, err)
		}
	}
}

func TestStatus(t *testing.T) {
	for _, c := range []Code{CodeOK, CodeLeaseEnded, CodeTimeout} {
		code, msg, err := ReadStatus(bytes.NewReader(AppendStatus(nil, c, "why")))
		wantMsg := "why"
		if c == CodeOK {
			wantMsg = ""
		}
		if err != nil || code != c || msg != wantMsg {
			t.Errorf("status %v read back as %v %q %v", c, code, msg, err)
		}
	}
}

func TestCodesOverGRPC(t *testing.T) {
	for c := CodeBadHeader; c <= CodeUnavailable; c++ {
		st := status.Convert(c.Error("msg"))
		got, ok := CodeOfStatus(st)
		if !ok || got != c {
			t.Errorf("%v: CodeOfStatus = %v, %v", c, got, ok)
		}
		if back, ok := CodeFromReason(c.Reason()); !ok || back != c {
			t.Errorf("%v: reason %q does not map back", c, c.Reason())
		}
	}
	if c, ok := CodeOfStatus(status.New(codes.Unauthenticated, "reference router")); !ok || c != CodeUnauthenticated {
		t.Errorf("plain UNAUTHENTICATED = %v, %v", c, ok)
	}
	if _, ok := CodeOfStatus(status.New(codes.Internal, "x")); ok {
		t.Error("INTERNAL without details mapped to a tunnel code")
	}
	if CodeLeaseEnded.Status("x").Code() != codes.FailedPrecondition {
		t.Error("lease ended is not FAILED_PRECONDITION")
	}
}

func TestPool(t *testing.T) {
	p := BufferPool()
	for _, n := range []int{0, 1, 256, 257, 16 << 10, MaxFrameMessage + MaxDataHeaderLen, 1 << 20, 2 << 20} {
		b := p.Get(n)
		if len(*b) != n {
			t.Errorf("Get(%d) has length %d", n, len(*b))
		}
		p.Put(b)
	}
	small := make([]byte, 10)
	p.Put(&small) // smaller than every tier: dropped, not kept to be handed out too short
	if b := p.Get(200); len(*b) != 200 || cap(*b) < 256 {
		t.Errorf("Get(200) = len %d cap %d", len(*b), cap(*b))
	}
}
