// Package drivers is the contract between the exporter agent and the drivers it serves: what a
// driver is (a client class label plus any of three kinds of methods), how a driver type is
// registered and built from the `config:` map of an ExporterConfig's `export:` entry, and the
// few helpers every driver needs (config decoding, argument checks, the errors the Python
// clients tell apart).
//
// The three kinds of methods mirror the upstream Python drivers, so that an unchanged upstream
// client can call a Go driver:
//
//   - Caller: unary `@export` methods, reached through ExporterService/DriverCall;
//   - StreamingCaller: generator `@export` methods, reached through StreamingDriverCall, one
//     google.protobuf.Value per yielded item;
//   - Streamer: `@exportstream` methods such as `connect`, reached through RouterService/Stream
//     inside the tunnel with the `request` metadata; the driver hands back a byte stream.
//
// Arguments and results are the plain values google.protobuf.Value carries (nil, bool, float64,
// string, []any, map[string]any), exactly what the Python side's encode_value/decode_value
// produce and accept. Errors with a gRPC status keep it (the Python client turns
// INVALID_ARGUMENT into DriverInvalidArgument, UNIMPLEMENTED into DriverMethodNotImplemented);
// any other error becomes UNKNOWN with its text.
//
// There is no global registry: the agent is handed a Registry, and package builtin fills one
// with the drivers this repository ships.
package drivers
