// Package framestream turns a jumpstarter.v1.RouterService/Stream call into a byte stream
// (a net.Conn with half-close) and joins two byte streams, the way the Python RouterStream and
// forward_stream do (wire contract §3.10, §3.11):
//
//   - every chunk of bytes travels as one FRAME_TYPE_DATA frame (at most MaxFrameSize bytes);
//   - FRAME_TYPE_GOAWAY, or the end of the gRPC stream, is end-of-stream for the reading side;
//     CloseWrite sends it once, and a client then half-closes its send side too;
//   - FRAME_TYPE_PING is ignored; FRAME_TYPE_RST_STREAM aborts the stream.
//
// The same framing carries the tunnel to a router and, inside the tunnel, each driver byte
// stream (`connect` of a network or serial driver). The exporter serves the second with
// NewServerConn and Join; the client side of either is NewClientConn. Request is the
// `request` metadata that names an inner stream.
package framestream
