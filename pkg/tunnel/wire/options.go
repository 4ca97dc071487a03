package wire

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/experimental"
)

// GRPCServerOptions tune a gRPC server that carries tunnel frames: the codec that passes
// them through, and the windows and buffers above. The router adds its own on top.
func GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(Codec{}),
		experimental.BufferPool(BufferPool()),
		grpc.InitialWindowSize(GRPCStreamWindow),
		grpc.InitialConnWindowSize(GRPCConnWindow),
		grpc.WriteBufferSize(GRPCWriteBuffer),
		grpc.ReadBufferSize(GRPCReadBuffer),
		grpc.MaxRecvMsgSize(MaxRecvMessage),
	}
}
