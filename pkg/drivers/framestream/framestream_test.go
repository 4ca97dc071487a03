package framestream_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"jumpstarter.dev/service/pkg/drivers/framestream"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

type handler func(grpc.BidiStreamingServer[jumpstarterv1.StreamRequest, jumpstarterv1.StreamResponse]) error

type router struct {
	jumpstarterv1.UnimplementedRouterServiceServer
	h handler
}

func (r router) Stream(s grpc.BidiStreamingServer[jumpstarterv1.StreamRequest, jumpstarterv1.StreamResponse]) error {
	return r.h(s)
}

// open serves h and opens one stream to it as a client Conn.
func open(t *testing.T, h handler) *framestream.Conn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	server := grpc.NewServer()
	jumpstarterv1.RegisterRouterServiceServer(server, router{h: h})
	go func() { _ = server.Serve(lis) }()
	t.Cleanup(server.Stop)
	cc, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := jumpstarterv1.NewRouterServiceClient(cc).Stream(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := framestream.NewClientConn(stream, cancel)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestHalfClose: the server reads to the client's end, answers, and ends; the payload spans
// many frames.
func TestHalfClose(t *testing.T) {
	c := open(t, func(s grpc.BidiStreamingServer[jumpstarterv1.StreamRequest, jumpstarterv1.StreamResponse]) error {
		conn := framestream.NewServerConn(s)
		data, err := io.ReadAll(conn)
		if err != nil {
			return err
		}
		if _, err := conn.Write(append([]byte("got:"), data...)); err != nil {
			return err
		}
		return conn.CloseWrite()
	})
	payload := make([]byte, 5*framestream.MaxFrameSize+17)
	_, _ = rand.Read(payload)
	if _, err := c.Write(payload); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("late")); err == nil {
		t.Error("Write after CloseWrite succeeded")
	}
	back, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, append([]byte("got:"), payload...)) {
		t.Errorf("got %d bytes back, want %d", len(back), len(payload)+4)
	}
}

func TestFrameTypes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		frames []*jumpstarterv1.StreamResponse
		want   string
		err    error
	}{
		{"ping and empty data are skipped, goaway ends", []*jumpstarterv1.StreamResponse{
			{FrameType: jumpstarterv1.FrameType_FRAME_TYPE_PING},
			{Payload: []byte("a")},
			{},
			{Payload: []byte("b")},
			{FrameType: jumpstarterv1.FrameType_FRAME_TYPE_GOAWAY},
			{Payload: []byte("after goaway")},
		}, "ab", nil},
		{"end of the call ends", []*jumpstarterv1.StreamResponse{{Payload: []byte("x")}}, "x", nil},
		{"rst aborts", []*jumpstarterv1.StreamResponse{{Payload: []byte("x")}, {FrameType: jumpstarterv1.FrameType_FRAME_TYPE_RST_STREAM}}, "x", framestream.ErrReset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := open(t, func(s grpc.BidiStreamingServer[jumpstarterv1.StreamRequest, jumpstarterv1.StreamResponse]) error {
				for _, f := range tc.frames {
					if err := s.Send(f); err != nil {
						return err
					}
				}
				return nil
			})
			got, err := io.ReadAll(c)
			if string(got) != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("read %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestDeadlinesAndClose(t *testing.T) {
	c := open(t, func(s grpc.BidiStreamingServer[jumpstarterv1.StreamRequest, jumpstarterv1.StreamResponse]) error {
		<-s.Context().Done()
		return nil
	})
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Read past the deadline: %v, want a timeout", err)
	}
	_ = c.SetWriteDeadline(time.Now().Add(-time.Second))
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Write past the deadline: %v, want a timeout", err)
	}
	_ = c.SetDeadline(time.Time{})
	go func() {
		time.Sleep(20 * time.Millisecond)
		c.Close()
	}()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read during Close: %v, want net.ErrClosed", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v, want net.ErrClosed", err)
	}
}

// tcpPair is a connected loopback pair.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := lis.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	t.Cleanup(func() { c.Close(); s.Close() })
	return s.(*net.TCPConn), c.(*net.TCPConn)
}

func TestJoin(t *testing.T) {
	a, aPeer := tcpPair(t)
	b, bPeer := tcpPair(t)
	joined := make(chan error, 1)
	go func() { joined <- framestream.Join(t.Context(), a, b) }()

	// a's peer says something and half-closes; b's peer reads it to the end, answers and
	// half-closes too: Join then ends cleanly.
	if _, err := aPeer.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	_ = aPeer.CloseWrite()
	got, err := io.ReadAll(bPeer)
	if err != nil || string(got) != "ping" {
		t.Fatalf("b's peer read %q, %v", got, err)
	}
	_, _ = bPeer.Write([]byte("pong"))
	_ = bPeer.CloseWrite()
	got, err = io.ReadAll(aPeer)
	if err != nil || string(got) != "pong" {
		t.Fatalf("a's peer read %q, %v", got, err)
	}
	select {
	case err := <-joined:
		if err != nil {
			t.Errorf("Join: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Join did not end after both sides half-closed")
	}
}

func TestJoinEndsWithItsContext(t *testing.T) {
	a, _ := tcpPair(t)
	b, _ := tcpPair(t)
	ctx, cancel := context.WithCancel(t.Context())
	joined := make(chan error, 1)
	go func() { joined <- framestream.Join(ctx, a, b) }()
	cancel()
	select {
	case err := <-joined:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Join: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Join did not end with its context")
	}
}
