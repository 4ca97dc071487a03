// Package routerbench measures what a router tunnel costs (issue 4 §5), in one run, TLS on
// everywhere:
//
//	go test -count=1 -run '^$' -bench Router -benchtime 1x ./e2e/bench/router/
//
// (make bench runs it too.) Paths compared:
//
//   - tcp: a TLS connection over loopback TCP, the floor;
//   - direct-grpc: our dialer (tunnel.DialGRPC) to a RouterService that serves the stream
//     itself (tunnel.NewServerConn), with the router's frames, windows and buffers: one gRPC
//     hop, the baseline the router is held against;
//   - router-grpc: our dialer at both ends, through cmd/router (a separate process);
//   - router-quic: the same over QUIC (tunnel.DialQUIC);
//   - router-grpc-apart: router-grpc with the exporter end in the far-end helper process, as
//     the direct path's far end is. On two cores that is three busy processes (client, router,
//     exporter) where every other path has two, so it shows what that placement costs; the
//     targets are judged on router-grpc, and this row's ratios are printed beside them;
//   - naive-relay: the design the issue asks us to beat, as the upstream router does it: a
//     separate process (this test binary, re-executed) that unmarshals every StreamRequest
//     and marshals a StreamResponse, with grpc-go's default settings, and a goroutine per
//     direction.
//
// For each: throughput of a 256 MiB one-way transfer (from the first write until the
// receiver's 1-byte acknowledgement of the end of stream arrives back; the median of three),
// and the round trip of 64 bytes (write, the far end echoes, read) as p50 and p99 over 4000
// trips. The paths take turns, so that a change in the machine's other load hits all of them
// alike: the first transfer of every path before the second of any, and the round trips in
// 20 rounds of 200 per path, all on connections opened beforehand. The far end of tcp,
// direct-grpc and router-grpc-apart is a helper process (this test binary, re-executed), so
// that every path crosses processes as a real one does; behind a router, both ends are
// otherwise in this process, and the router in its own: two busy processes on every path, as
// each of the machine's two cores can carry one. Then the
// router's memory: RSS (VmRSS of /proc/PID/status) of a fresh router process before and
// after 1000 idle paired tunnels, each end on its own connection, divided by 1000; the same
// for the naive relay.
//
// cmd/router comes from $JUMPSTARTER_BIN/router when that exists (make bench builds it),
// else it is built into a temporary folder; without a Go toolchain, or without /proc, the
// benchmark skips what it cannot do. The machine is shared: figures vary from run to run,
// and the ratios, taken within one run, are what to compare. Missing a target does not fail
// the benchmark; a transfer that loses bytes, or a tunnel that does not pair, does. (Byte
// exactness is the unit tests' job, pkg/tunnel/router: checksums would cost CPU here.)
//
// Run it alone: make bench runs every package under e2e/bench, and go test runs packages in
// parallel unless told -p 1.
package routerbench
