package h2relay

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"jumpstarter.dev/service/pkg/lab"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
	"jumpstarter.dev/service/pkg/tunnel/wire"
)

const testMethod = "/jumpstarter.v1.RouterService/Stream"

// servingCert is a serving certificate for 127.0.0.1 from a CA of its own, and the pool that
// trusts that CA.
func servingCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	cert, roots, err := lab.NewServingTLS("relay", []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	return cert, roots
}

// pairServer links streams two by two, in the order they come, as a router would.
func pairServer(t *testing.T) (addr string, clientTLS *tls.Config, ended chan error) {
	t.Helper()
	cert, roots := servingCert(t)
	ended = make(chan error, 16)
	var mu sync.Mutex
	var waiting *Stream
	srv, err := NewServer(Options{
		TLSConfig:      &tls.Config{Certificates: []tls.Certificate{cert}},
		Method:         testMethod,
		HealthServices: []string{""},
		Handler: func(s *Stream, md Metadata) {
			if len(md.Get("authorization")) == 0 {
				s.Abort(status.New(codes.Unauthenticated, "no token 100%"))
				return
			}
			s.OnGone(func(error) {})
			// Paired in the order the streams come (the handler runs on the reader).
			mu.Lock()
			peer := waiting
			if peer == nil {
				waiting = s
			} else {
				waiting = nil
			}
			mu.Unlock()
			go func() {
				_ = s.Accept(hpack.HeaderField{Name: "jumpstarter-tunnel", Value: "accepted"})
				if peer != nil {
					s.Link(peer, Counters{}, func(err error) { ended <- err })
					peer.Link(s, Counters{}, func(err error) { ended <- err })
				}
			}()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(context.Background(), lis) }()
	t.Cleanup(srv.Close)
	return lis.Addr().String(), &tls.Config{RootCAs: roots, NextProtos: []string{"h2"}}, ended
}

// rawClient is an HTTP/2 client made of a Framer, to send what grpc-go never would.
type rawClient struct {
	t   *testing.T
	nc  net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
}

func dialRaw(t *testing.T, addr string, tc *tls.Config) *rawClient {
	t.Helper()
	nc, err := tls.Dial("tcp", addr, tc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	c := &rawClient{t: t, nc: nc}
	c.fr = http2.NewFramer(nc, nc)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.buf)
	if _, err := nc.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	// Windows large enough for every test's bytes; TestBackpressure narrows its own.
	if err := c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteWindowUpdate(0, 1<<20); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *rawClient) open(id uint32, path string, end bool, extra ...string) {
	c.t.Helper()
	c.buf.Reset()
	fields := []string{":method", "POST", ":scheme", "https", ":path", path, ":authority", "relay", "content-type", "application/grpc", "te", "trailers"}
	for i := 0; i+1 < len(fields); i += 2 {
		_ = c.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	for i := 0; i+1 < len(extra); i += 2 {
		_ = c.enc.WriteField(hpack.HeaderField{Name: extra[i], Value: extra[i+1]})
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.buf.Bytes(), EndHeaders: true, EndStream: end}); err != nil {
		c.t.Fatal(err)
	}
}

// next reads frames until one for stream id that is not a control frame.
func (c *rawClient) next(id uint32) http2.Frame {
	c.t.Helper()
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = c.fr.WriteSettingsAck()
			}
			continue
		case *http2.WindowUpdateFrame, *http2.PingFrame:
			continue
		}
		if f.Header().StreamID == id {
			return f
		}
	}
}

// message frames a tunnel frame as a gRPC message.
func message(t *testing.T, payload []byte, ft jumpstarterv1.FrameType) []byte {
	body, err := proto.Marshal(&jumpstarterv1.StreamRequest{Payload: payload, FrameType: ft})
	if err != nil {
		t.Fatal(err)
	}
	return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(body))), body...)
}

func headerValue(f http2.Frame, name string) string {
	if mh, ok := f.(*http2.MetaHeadersFrame); ok {
		for _, h := range mh.Fields {
			if h.Name == name {
				return h.Value
			}
		}
	}
	return ""
}

func TestRefusalsAreTrailersOnly(t *testing.T) {
	addr, tc, _ := pairServer(t)
	c := dialRaw(t, addr, tc)
	tests := []struct {
		name, path string
		extra      []string
		status     string
		message    string
	}{
		{"unauthenticated", testMethod, nil, "16", "no token 100%25"},
		{"unknown service", "/foo.Bar/Baz", nil, "12", "unknown service foo.Bar"},
		{"unknown health method", "/grpc.health.v1.Health/Watch", nil, "12", "unknown method Watch for service grpc.health.v1.Health"},
		{"bad timeout", testMethod, []string{"authorization", "x", "grpc-timeout", "1x"}, "13", "malformed grpc-timeout \"1x\""},
	}
	for i, tt := range tests {
		id := uint32(2*i + 1)
		c.open(id, tt.path, false, tt.extra...)
		f := c.next(id)
		mh, ok := f.(*http2.MetaHeadersFrame)
		if !ok || !mh.StreamEnded() {
			t.Fatalf("%s: got %v, want a trailers-only response", tt.name, f)
		}
		if got := headerValue(f, "grpc-status"); got != tt.status {
			t.Errorf("%s: grpc-status %q, want %q", tt.name, got, tt.status)
		}
		if got := headerValue(f, "grpc-message"); got != tt.message {
			t.Errorf("%s: grpc-message %q, want %q", tt.name, got, tt.message)
		}
		if headerValue(f, ":status") != "200" || headerValue(f, "content-type") != "application/grpc" {
			t.Errorf("%s: response headers missing in %v", tt.name, mh.Fields)
		}
		if rst, ok := c.next(id).(*http2.RSTStreamFrame); !ok || rst.ErrCode != http2.ErrCodeNo {
			t.Errorf("%s: no RST_STREAM NO_ERROR after the response to an open request", tt.name)
		}
	}
}

func TestHealthCheck(t *testing.T) {
	addr, tc, _ := pairServer(t)
	c := dialRaw(t, addr, tc)
	c.open(1, healthCheckMethod, false)
	req := []byte{0, 0, 0, 0, 0} // HealthCheckRequest{service: ""}
	if err := c.fr.WriteData(1, true, req); err != nil {
		t.Fatal(err)
	}
	if h := c.next(1); headerValue(h, ":status") != "200" {
		t.Fatalf("headers %v", h)
	}
	d, ok := c.next(1).(*http2.DataFrame)
	if !ok || !bytes.Equal(d.Data(), []byte{0, 0, 0, 0, 2, 0x08, 0x01}) {
		t.Fatalf("health answer %v, want SERVING", d)
	}
	if tr := c.next(1); headerValue(tr, "grpc-status") != "0" {
		t.Fatalf("trailers %v", tr)
	}
}

// TestRelay links two streams of one connection and checks the message rules: a message split
// over many frames (and padded) arrives whole, PING is dropped, GOAWAY goes on, a half-close
// becomes a GOAWAY, and a RST_STREAM frame aborts the direction.
func TestRelay(t *testing.T) {
	addr, tc, ended := pairServer(t)
	c := dialRaw(t, addr, tc)
	c.open(1, testMethod, false, "authorization", "Bearer x")
	if h := c.next(1); headerValue(h, "jumpstarter-tunnel") != "accepted" {
		t.Fatalf("stream 1 headers %v", h)
	}
	c.open(3, testMethod, false, "authorization", "Bearer x")
	if h := c.next(3); headerValue(h, "jumpstarter-tunnel") != "accepted" {
		t.Fatalf("stream 3 headers %v", h)
	}
	big := bytes.Repeat([]byte("0123456789"), 10000) // 100 kB: streamed, not collected
	var stream []byte
	stream = append(stream, message(t, []byte("hello"), jumpstarterv1.FrameType_FRAME_TYPE_DATA)...)
	stream = append(stream, message(t, []byte("ping"), jumpstarterv1.FrameType_FRAME_TYPE_PING)...)
	stream = append(stream, message(t, big, jumpstarterv1.FrameType_FRAME_TYPE_DATA)...)
	stream = append(stream, message(t, []byte("x"), jumpstarterv1.FrameType(9))...)
	// Odd frame sizes, some padded, cut prefixes and fields.
	for i, rest := 0, stream; len(rest) > 0; i++ {
		n := min(len(rest), 1+i*37%5000)
		var err error
		if i%3 == 0 {
			err = c.fr.WriteDataPadded(1, false, rest[:n], make([]byte, i%7))
		} else {
			err = c.fr.WriteData(1, false, rest[:n])
		}
		if err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := c.fr.WriteData(1, true, nil); err != nil { // half-close without GOAWAY
		t.Fatal(err)
	}
	var got []byte
	want := append(append(append(message(t, []byte("hello"), 0), message(t, big, 0)...), message(t, []byte("x"), 9)...), goAwayMessage...)
	for len(got) < len(want) {
		d, ok := c.next(3).(*http2.DataFrame)
		if !ok {
			t.Fatalf("stream 3 got a non-DATA frame after %d bytes", len(got))
		}
		got = append(got, d.Data()...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("stream 3 received %d bytes, not the %d expected (PING dropped, GOAWAY added)", len(got), len(want))
	}
	if err := <-ended; err != nil {
		t.Errorf("direction 1->3 ended with %v, want nil", err)
	}
	// The other way, a RST_STREAM tunnel frame aborts.
	if err := c.fr.WriteData(3, false, message(t, nil, jumpstarterv1.FrameType_FRAME_TYPE_RST_STREAM)); err != nil {
		t.Fatal(err)
	}
	if err := <-ended; err != ErrReset {
		t.Errorf("direction 3->1 ended with %v, want ErrReset", err)
	}
}

// TestBackpressure: a sink whose client grants no window gets its bytes queued, the source is
// credited only for what was delivered, and the queue drains when the window opens.
func TestBackpressure(t *testing.T) {
	addr, tc, _ := pairServer(t)
	src := dialRaw(t, addr, tc)
	sink := dialRaw(t, addr, tc)
	// The sink allows 100 bytes per stream until it says otherwise.
	if err := sink.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100}); err != nil {
		t.Fatal(err)
	}
	src.open(1, testMethod, false, "authorization", "Bearer x")
	src.next(1)
	sink.open(1, testMethod, false, "authorization", "Bearer x")
	sink.next(1)
	msg := message(t, bytes.Repeat([]byte("y"), 1000), 0)
	if err := src.fr.WriteData(1, false, msg); err != nil {
		t.Fatal(err)
	}
	d, ok := sink.next(1).(*http2.DataFrame)
	if !ok || len(d.Data()) != 100 {
		t.Fatalf("sink got %v, want the 100 bytes its window allows", d)
	}
	if err := sink.fr.WriteWindowUpdate(1, uint32(len(msg))); err != nil {
		t.Fatal(err)
	}
	n := 100
	for n < len(msg) {
		d, ok := sink.next(1).(*http2.DataFrame)
		if !ok {
			t.Fatal("sink got a non-DATA frame")
		}
		n += len(d.Data())
	}
	if n != len(msg) {
		t.Errorf("sink got %d bytes, want %d", n, len(msg))
	}
}

func TestBadPrefaceAndCompressedMessage(t *testing.T) {
	addr, tc, ended := pairServer(t)
	nc, err := tls.Dial("tcp", addr, tc)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = nc.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Read(make([]byte, 1024)); err == nil {
		// The server's SETTINGS may come first; the connection must end after.
		_, err = nc.Read(make([]byte, 1024))
		if err == nil {
			t.Error("connection with a bad preface still open")
		}
	}
	_ = nc.Close()

	c := dialRaw(t, addr, tc)
	c.open(1, testMethod, false, "authorization", "Bearer x")
	c.next(1)
	c.open(3, testMethod, false, "authorization", "Bearer x")
	c.next(3)
	bad := message(t, []byte("z"), 0)
	bad[0] = 1
	if err := c.fr.WriteData(1, false, bad); err != nil {
		t.Fatal(err)
	}
	if err := <-ended; err != ErrMalformed {
		t.Errorf("compressed message: %v, want ErrMalformed", err)
	}
}

func TestTimeout(t *testing.T) {
	addr, tc, _ := pairServer(t)
	c := dialRaw(t, addr, tc)
	start := time.Now()
	c.open(1, testMethod, false, "authorization", "Bearer x", "grpc-timeout", "200m")
	c.next(1) // accepted headers
	tr := c.next(1)
	if headerValue(tr, "grpc-status") != "4" || !strings.Contains(headerValue(tr, "grpc-message"), "deadline") {
		t.Fatalf("after grpc-timeout: %v, want DEADLINE_EXCEEDED trailers", tr)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 5*time.Second {
		t.Errorf("deadline after %s, want about 200 ms", d)
	}
}

func TestMessagePrefix(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 70000} {
		var m jumpstarterv1.StreamResponse
		p := bytes.Repeat([]byte{7}, n)
		msg := append(dataMessagePrefix(nil, n), p...)
		if int(binary.BigEndian.Uint32(msg[1:])) != len(msg)-prefixLen {
			t.Fatalf("%d: prefix length wrong", n)
		}
		if err := proto.Unmarshal(msg[prefixLen:], &m); err != nil || !bytes.Equal(m.GetPayload(), p) {
			t.Errorf("%d: %v", n, err)
		}
	}
	if wire.MaxRecvMessage < smallMessage {
		t.Error("smallMessage above the message limit")
	}
}

// TestStalledSinkBoundsMemory: a sink that grants no window makes the relay hold at most the
// window it granted the source; the source gets no further credit, and a byte beyond the
// window is a flow-control error, not more memory.
func TestStalledSinkBoundsMemory(t *testing.T) {
	addr, tc, _ := pairServer(t)
	src := dialRaw(t, addr, tc)
	sink := dialRaw(t, addr, tc)
	if err := sink.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
		t.Fatal(err)
	}
	src.open(1, testMethod, false, "authorization", "Bearer x")
	src.next(1)
	sink.open(1, testMethod, false, "authorization", "Bearer x")
	sink.next(1)
	msg := message(t, bytes.Repeat([]byte("z"), 16000), 0)
	sent := 0
	for sent+len(msg) <= wire.GRPCStreamWindow {
		for rest := msg; len(rest) > 0; {
			n := min(len(rest), 16384)
			if err := src.fr.WriteData(1, false, rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		sent += len(msg)
	}
	// What is left of the window, then one byte too many.
	if err := src.fr.WriteData(1, false, make([]byte, wire.GRPCStreamWindow-sent)); err != nil {
		t.Fatal(err)
	}
	if err := src.fr.WriteData(1, false, []byte{0}); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := src.fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		switch f := f.(type) {
		case *http2.WindowUpdateFrame:
			if f.StreamID == 1 {
				t.Fatalf("stream window credited by %d while its sink took nothing", f.Increment)
			}
		case *http2.RSTStreamFrame:
			if f.ErrCode != http2.ErrCodeFlowControl {
				t.Fatalf("RST_STREAM %v, want FLOW_CONTROL_ERROR", f.ErrCode)
			}
			return
		}
	}
}

func TestManyStreamsOneConnection(t *testing.T) {
	addr, tc, _ := pairServer(t)
	c := dialRaw(t, addr, tc)
	const pairs = 50
	for i := range 2 * pairs {
		id := uint32(2*i + 1)
		c.open(id, testMethod, false, "authorization", "Bearer x")
		c.next(id)
	}
	// Streams were linked in the order they came: 1<->3, 5<->7, ...
	for i := range pairs {
		a := uint32(4*i + 1)
		if err := c.fr.WriteData(a, false, message(t, []byte{byte(i)}, 0)); err != nil {
			t.Fatal(err)
		}
	}
	got := map[uint32][]byte{}
	for len(got) < pairs {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := f.(*http2.DataFrame); ok {
			got[d.StreamID] = append([]byte(nil), d.Data()...)
		}
	}
	for i := range pairs {
		b := uint32(4*i + 3)
		if !bytes.Equal(got[b], message(t, []byte{byte(i)}, 0)) {
			t.Errorf("stream %d got %v", b, got[b])
		}
	}
}

func TestPingFlood(t *testing.T) {
	addr, tc, _ := pairServer(t)
	c := dialRaw(t, addr, tc)
	for i := range 2 * pingBurst {
		if err := c.fr.WritePing(false, [8]byte{byte(i)}); err != nil {
			break // the server may have hung up already
		}
	}
	acks := 0
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			t.Fatalf("connection ended without GOAWAY after %d ping acks: %v", acks, err)
		}
		switch f := f.(type) {
		case *http2.PingFrame:
			acks++
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeEnhanceYourCalm || acks != pingBurst {
				t.Errorf("GOAWAY %v after %d acks, want ENHANCE_YOUR_CALM after %d", f.ErrCode, acks, pingBurst)
			}
			return
		}
	}
}
