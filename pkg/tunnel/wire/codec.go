package wire

import (
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// Codec is the gRPC codec of tunnel hops: a *Frame passes through as bytes, anything else
// (the health and reflection services, a peer's proto messages) goes to the proto codec.
// Servers install it with grpc.ForceServerCodecV2, clients with grpc.ForceCodecV2; its name
// is "proto", so the content type on the wire is the usual application/grpc+proto.
type Codec struct{}

var _ encoding.CodecV2 = Codec{}

// protoCodec is grpc's own, registered by its proto package.
var protoCodec = encoding.GetCodecV2(proto.Name)

// Marshal hands the frame's buffers to the transport, which frees them once written; the
// frame is left empty, so its sender knows it no longer owns them.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	if f, ok := v.(*Frame); ok {
		data := f.Data
		f.Data = nil
		return data, nil
	}
	if protoCodec == nil {
		return nil, fmt.Errorf("tunnel codec: no proto codec registered for %T", v)
	}
	return protoCodec.Marshal(v)
}

// Unmarshal keeps a reference to the received buffers in the frame instead of parsing them.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if f, ok := v.(*Frame); ok {
		f.Free()
		data.Ref()
		f.Data = data
		return nil
	}
	if protoCodec == nil {
		return fmt.Errorf("tunnel codec: no proto codec registered for %T", v)
	}
	return protoCodec.Unmarshal(data, v)
}

// Name is the proto codec's, so that peers see an ordinary gRPC service.
func (Codec) Name() string { return proto.Name }
