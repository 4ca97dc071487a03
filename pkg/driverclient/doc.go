// Package driverclient drives an exporter's drivers from Go, over one exporter session: the
// plaintext HTTP/2 gRPC connection inside a tunnel (wire contract §3.11). It speaks what the
// upstream Python clients speak, so it drives the Go exporter (package exporter) and the
// Python exporter alike:
//
//   - GetReport and Find resolve a driver by its name (jumpstarter.dev/name, or a dotted path
//     through the tree such as "dut.power") or, with no name, by its client class when
//     exactly one instance has it;
//   - Call and StreamingCall are DriverCall and StreamingDriverCall with arguments and
//     results as google.protobuf.Value (nil, bool, float64, string, []any, map[string]any);
//   - Power switches a PowerClient driver: on, off, and cycle as the upstream PowerClient does
//     it (off, wait, on), so it needs nothing the Python drivers lack;
//   - Shell runs a command through a ShellClient driver's call_method, copying its output to
//     two writers as it arrives and returning its exit code;
//   - Connect opens a driver's byte stream (`connect` of a network or serial driver) as a
//     net.Conn, through RouterService/Stream with the `request` metadata;
//   - EndSession tells the exporter the client is done.
//
// New takes the tunnel's net.Conn and owns it from then on.
package driverclient
