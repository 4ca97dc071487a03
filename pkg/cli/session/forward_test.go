package session

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tcpPair is the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	return a, b
}

// A request/response exchange that relies on half-close gets through Pipe: the client's
// end of request reaches the server as EOF, and the answer still comes back.
func TestPipeHalfClose(t *testing.T) {
	client, proxyIn := tcpPair(t)
	proxyOut, server := tcpPair(t)
	go Pipe(proxyIn, proxyOut)

	go func() {
		req, _ := io.ReadAll(server) // until the client's half-close
		_, _ = server.Write(append([]byte("echo:"), req...))
		_ = server.Close()
	}()
	if _, err := client.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if err := client.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(client)
	if err != nil || string(got) != "echo:request" {
		t.Errorf("answer %q, %v; want echo:request", got, err)
	}
}

// A connection whose stream cannot be opened is reported and closed; the others go on; the
// end of ctx stops everything and Forward returns nil.
func TestForward(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opened atomic.Int32
	open := func(context.Context) (net.Conn, error) {
		if opened.Add(1) == 1 {
			return nil, errors.New("router unreachable")
		}
		a, b := net.Pipe()
		go func() { _, _ = io.Copy(b, b); _ = b.Close() }()
		return a, nil
	}
	var mu sync.Mutex
	var reported []error
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		done <- Forward(ctx, ln, open, func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() })
	}()

	first, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = first.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := first.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("the failed connection: read %d, %v; want it closed", n, err)
	}
	second, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := second.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	_ = second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(second, buf); err != nil || string(buf) != "ping" {
		t.Errorf("echo %q, %v", buf, err)
	}

	// An open connection is closed when ctx ends.
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Forward = %v, want nil after the end of ctx", err)
	}
	if n, err := second.Read(buf); n != 0 || err == nil {
		t.Errorf("after the end: read %d, %v; want the connection closed", n, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 || reported[0].Error() != "router unreachable" {
		t.Errorf("reported %v", reported)
	}
}
