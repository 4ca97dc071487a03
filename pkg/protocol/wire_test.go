package protocol_test

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// TestWireBytes pins a few encodings by hand, independently of the descriptors: the field
// numbers and presence rules that the Python peers depend on.
func TestWireBytes(t *testing.T) {
	tests := []struct {
		name string
		msg  proto.Message
		want []byte
	}{{
		name: "UnregisterRequest.reason is field 2",
		msg:  &jumpstarterv1.UnregisterRequest{Reason: "bye"},
		want: protowire.AppendString(protowire.AppendTag(nil, 2, protowire.BytesType), "bye"),
	}, {
		name: "StreamRequest GOAWAY frame",
		msg:  &jumpstarterv1.StreamRequest{Payload: []byte{0xca, 0xfe}, FrameType: jumpstarterv1.FrameType_FRAME_TYPE_GOAWAY},
		want: protowire.AppendVarint(protowire.AppendTag(
			protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte{0xca, 0xfe}),
			2, protowire.VarintType), 7),
	}, {
		name: "StreamRequest DATA frame is the zero value and is not sent",
		msg:  &jumpstarterv1.StreamRequest{FrameType: jumpstarterv1.FrameType_FRAME_TYPE_DATA},
		want: nil,
	}, {
		name: "Condition.observedGeneration is field 3",
		msg:  &jumpstarterv1.Condition{ObservedGeneration: proto.Int64(3)},
		want: protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 3),
	}, {
		name: "optional Lease.client is sent when set to the empty string",
		msg:  &clientv1.Lease{Client: proto.String("")},
		want: protowire.AppendString(protowire.AppendTag(nil, 9, protowire.BytesType), ""),
	}, {
		name: "plain Lease.selector is not sent when empty",
		msg:  &clientv1.Lease{Selector: ""},
		want: nil,
	}, {
		name: "optional ReportStatusRequest.release_lease false is sent",
		msg:  &jumpstarterv1.ReportStatusRequest{ReleaseLease: proto.Bool(false)},
		want: protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 0),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := proto.MarshalOptions{Deterministic: true}.Marshal(tt.msg)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("bytes = %x, want %x", got, tt.want)
			}
			back := tt.msg.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(tt.want, back); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if !proto.Equal(back, tt.msg) {
				t.Errorf("decoded %v, want %v", back, tt.msg)
			}
		})
	}
}
