// Package tlsbatch puts what crypto/tls writes for one Write into one socket write.
//
// crypto/tls writes every record (16 KiB at most) to the socket with a syscall of its own, so
// a 64 KiB write of a gRPC transport's buffer cost four or five writes, and as many TCP
// segments and wake-ups of the reader at the other end. Conn, the socket under the TLS, gathers
// the records of a batch (Begin … Flush) and writes them at once. The router's HTTP/2 relay
// batches each flush of its write buffers; Credentials does the same for every write of a
// grpc-go client's TLS connection, as the tunnel's dialers use.
//
// BenchmarkWrite64KiB (TLS over loopback TCP, 64 KiB writes, both ends in one process) carried
// 861 and 807 MB/s with the records written apart, 1054 and 959 MB/s batched, in two runs.
//
// Outside a batch, Conn writes through: the TLS handshake and what the TLS reader writes on its
// own (a key update) are never held back. A batch holds a pooled buffer only until its Flush,
// so an idle connection holds none.
package tlsbatch
