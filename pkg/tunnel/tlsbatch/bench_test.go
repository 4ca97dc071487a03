package tlsbatch

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
)

// BenchmarkWrite64KiB compares TLS over loopback TCP, 64 KiB per write (a gRPC transport's
// flush), with and without batching the records of each write into one socket write. Both
// ends run in this process: ns/op is the CPU of a write and its read on a busy machine.
//
//	go test -run '^$' -bench Write64KiB -benchtime 2000x ./pkg/tunnel/tlsbatch/
func BenchmarkWrite64KiB(b *testing.B) {
	for _, tt := range []struct {
		name    string
		batched bool
	}{{"records-apart", false}, {"batched", true}} {
		b.Run(tt.name, func(b *testing.B) {
			cert, roots := serverCert(b)
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer lis.Close()
			done := make(chan error, 1)
			go func() {
				raw, err := lis.Accept()
				if err != nil {
					done <- err
					return
				}
				srv := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{cert}})
				_, err = io.Copy(io.Discard, srv)
				done <- err
			}()
			raw, err := net.Dial("tcp", lis.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			under := &Conn{Conn: raw}
			client := tls.Client(under, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
			if err := client.Handshake(); err != nil {
				b.Fatal(err)
			}
			var w io.Writer = client
			if tt.batched {
				w = &batchingConn{Conn: client, under: under}
			}
			payload := make([]byte, 64<<10)
			b.SetBytes(int64(len(payload)))
			b.ResetTimer()
			for range b.N {
				if _, err := w.Write(payload); err != nil {
					b.Fatal(err)
				}
			}
			_ = raw.(*net.TCPConn).CloseWrite()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
