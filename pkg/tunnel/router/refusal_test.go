package router

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/quic-go/quic-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	clocktesting "k8s.io/utils/clock/testing"

	"jumpstarter.dev/service/pkg/auth/routertoken"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
	"jumpstarter.dev/service/pkg/tunnel"
	"jumpstarter.dev/service/pkg/tunnel/wire"
)

// handMint signs claims of our choosing with key.
func handMint(t *testing.T, key []byte, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestBadTokensRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	lease := e.lease("tokens")
	pastSigner, err := routertoken.NewSigner(routerKey, clocktesting.NewFakeClock(time.Now().Add(-2*time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	expired, _, err := pastSigner.Mint(lease, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	good := map[string]any{
		"iss": routertoken.Issuer, "aud": []string{routertoken.Audience}, "sub": uuid.NewString(),
		"iat": now, "nbf": now, "exp": now + 600, "lease": lease,
	}
	with := func(k string, v any) map[string]any {
		c := map[string]any{}
		for key, val := range good {
			c[key] = val
		}
		c[k] = v
		return c
	}
	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"garbage", "not-a-jwt", "invalid jwt token"},
		{"expired", expired, "expired"},
		{"wrong audience", handMint(t, routerKey, with("aud", []string{"https://jumpstarter.dev/controller"})), "not for a router"},
		{"wrong issuer", handMint(t, routerKey, with("iss", "https://evil.example")), "issuer"},
		{"wrong key", handMint(t, []byte(strings.Repeat("x", 48)), good), "signature"},
		{"no lease", handMint(t, routerKey, with("lease", nil)), "lease"},
	}
	for _, tt := range tests {
		for _, tr := range transports {
			t.Run(tt.name+"/"+tr, func(t *testing.T) {
				_, err := e.dial(tr, tt.token)
				if !errors.Is(err, tunnel.ErrUnauthenticated) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("dial = %v, want ErrUnauthenticated mentioning %q", err, tt.want)
				}
			})
		}
	}
	if e.srv.Waiting() != 0 || e.srv.open() != 0 {
		t.Error("a refused stream is still tracked")
	}
	if got := testutil.ToFloat64(e.srv.metrics.refusals.WithLabelValues("unauthenticated")); got != float64(2*len(tests)) {
		t.Errorf("unauthenticated refusals = %v, want %d", got, 2*len(tests))
	}
}

// rawClient opens RouterService streams with the generated client and proto codec, as the
// Python tools do.
func (e *env) rawClient(t *testing.T) jumpstarterv1.RouterServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(e.endpoint, grpc.WithTransportCredentials(credentials.NewTLS(e.clientTLS)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return jumpstarterv1.NewRouterServiceClient(cc)
}

func rawStream(t *testing.T, c jumpstarterv1.RouterServiceClient, authorization ...string) jumpstarterv1.RouterService_StreamClient {
	t.Helper()
	ctx := context.Background()
	for _, a := range authorization {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", a)
	}
	s, err := c.Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuthorizationHeader(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.rawClient(t)
	tok := e.token(e.lease("header"))
	tests := []struct {
		name string
		md   []string
		want string
	}{
		{"missing", nil, "no authorization header"},
		{"two", []string{"Bearer " + tok, "Bearer " + tok}, "multiple"},
		{"not bearer", []string{"Basic " + tok}, "Bearer"},
		{"empty token", []string{"Bearer "}, "Bearer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rawStream(t, c, tt.md...).Recv()
			if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "missing or invalid authorization") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Recv = %v, want UNAUTHENTICATED mentioning %q", err, tt.want)
			}
		})
	}
	// "bearer" in any case is accepted.
	s := rawStream(t, c, "bEaReR "+tok)
	if _, err := s.Header(); err != nil {
		t.Fatal(err)
	}
	if e.srv.Waiting() != 1 {
		t.Errorf("waiting = %d, want the lower-case bearer stream", e.srv.Waiting())
	}
}

// TestFramesAsPythonSendsThem drives both ends with the generated client: payload and frame
// type arrive as sent, PING is not passed on, GOAWAY is, and RST_STREAM aborts both ends.
func TestFramesAsPythonSendsThem(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.rawClient(t)
	tok := e.token(e.lease("frames"))
	a := rawStream(t, c, "Bearer "+tok)
	if _, err := a.Header(); err != nil {
		t.Fatal(err)
	}
	b := rawStream(t, c, "Bearer "+tok)
	if _, err := b.Header(); err != nil {
		t.Fatal(err)
	}
	send := func(s jumpstarterv1.RouterService_StreamClient, payload string, ft jumpstarterv1.FrameType) {
		t.Helper()
		if err := s.Send(&jumpstarterv1.StreamRequest{Payload: []byte(payload), FrameType: ft}); err != nil {
			t.Fatal(err)
		}
	}
	send(a, "hello", jumpstarterv1.FrameType_FRAME_TYPE_DATA)
	send(a, "keepalive", jumpstarterv1.FrameType_FRAME_TYPE_PING)
	send(a, "unknown", jumpstarterv1.FrameType(9))
	send(a, "", jumpstarterv1.FrameType_FRAME_TYPE_GOAWAY)
	if err := a.CloseSend(); err != nil {
		t.Fatal(err)
	}
	want := []*jumpstarterv1.StreamResponse{
		{Payload: []byte("hello"), FrameType: jumpstarterv1.FrameType_FRAME_TYPE_DATA},
		{Payload: []byte("unknown"), FrameType: jumpstarterv1.FrameType(9)},
		{FrameType: jumpstarterv1.FrameType_FRAME_TYPE_GOAWAY},
	}
	for i, w := range want {
		got, err := b.Recv()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if string(got.GetPayload()) != string(w.GetPayload()) || got.GetFrameType() != w.GetFrameType() {
			t.Errorf("frame %d = %q/%v, want %q/%v", i, got.GetPayload(), got.GetFrameType(), w.GetPayload(), w.GetFrameType())
		}
	}
	// b still sends; then it resets, which aborts a too.
	send(b, "reply", jumpstarterv1.FrameType_FRAME_TYPE_DATA)
	if got, err := a.Recv(); err != nil || string(got.GetPayload()) != "reply" {
		t.Fatalf("a got %v, %v; want the reply", got, err)
	}
	send(b, "", jumpstarterv1.FrameType_FRAME_TYPE_RST_STREAM)
	for _, s := range []jumpstarterv1.RouterService_StreamClient{a, b} {
		_, err := s.Recv()
		if status.Code(err) != codes.Aborted {
			t.Errorf("after RST_STREAM: %v, want ABORTED", err)
		}
	}
}

func TestCleanEndStatusOK(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.rawClient(t)
	tok := e.token(e.lease("clean"))
	a, b := rawStream(t, c, "Bearer "+tok), rawStream(t, c, "Bearer "+tok)
	for _, s := range []jumpstarterv1.RouterService_StreamClient{a, b} {
		if err := s.Send(&jumpstarterv1.StreamRequest{FrameType: jumpstarterv1.FrameType_FRAME_TYPE_GOAWAY}); err != nil {
			t.Fatal(err)
		}
		_ = s.CloseSend()
	}
	for _, s := range []jumpstarterv1.RouterService_StreamClient{a, b} {
		got, err := s.Recv()
		if err != nil || got.GetFrameType() != jumpstarterv1.FrameType_FRAME_TYPE_GOAWAY {
			t.Fatalf("Recv = %v, %v; want GOAWAY", got, err)
		}
		if _, err := s.Recv(); err != io.EOF {
			t.Errorf("end of stream = %v, want io.EOF (status OK)", err)
		}
	}
}

func TestLeaseEnded(t *testing.T) {
	e := newEnv(t, envOptions{})
	t.Run("refused at open", func(t *testing.T) {
		ref := e.lease("over")
		tok := e.token(ref)
		e.leases.End(ref)
		for _, tr := range transports {
			if _, err := e.dial(tr, tok); !errors.Is(err, tunnel.ErrLeaseEnded) {
				t.Errorf("%s dial = %v, want ErrLeaseEnded", tr, err)
			}
		}
		// A later lease of the same name is another epoch: the old ticket stays refused.
		e.leases.Start(routertoken.LeaseRef{Namespace: ref.Namespace, Name: ref.Name, UID: "uid-next"})
		if _, err := e.dial(tunnel.TransportGRPC, tok); !errors.Is(err, tunnel.ErrLeaseEnded) {
			t.Errorf("dial with the previous epoch's token = %v, want ErrLeaseEnded", err)
		}
	})
	for _, et := range transports {
		for _, ct := range transports {
			t.Run("closes tunnels/"+et+"-"+ct, func(t *testing.T) {
				ref := e.lease("ending-" + et + "-" + ct)
				tok := e.token(ref)
				exporter, client := e.pairWith(tok, et, ct)
				waiting := e.mustDial(et, e.token(ref)) // another ticket of the lease, unpaired
				roundTrip(t, client, exporter)
				e.leases.End(ref)
				for name, c := range map[string]tunnel.Conn{"exporter": exporter, "client": client, "waiting": waiting} {
					if _, err := c.Read(make([]byte, 1)); !errors.Is(err, tunnel.ErrLeaseEnded) {
						t.Errorf("%s Read after the lease ended = %v, want ErrLeaseEnded", name, err)
					}
					_ = c.Close()
				}
				waitFor(t, "streams gone", func() bool { return e.srv.open() == 0 && e.srv.Waiting() == 0 })
			})
		}
	}
}

func TestBadQUICHeader(t *testing.T) {
	e := newEnv(t, envOptions{})
	tests := []struct {
		name   string
		header []byte
	}{
		{"wrong magic", []byte("HTTP/1.1 GET /")},
		{"other version", []byte{'J', 'T', 9, 0, 1, 'x'}},
		{"empty token", []byte{'J', 'T', wire.Version, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			tc := e.clientTLS.Clone()
			tc.NextProtos = []string{wire.ALPN}
			conn, err := quic.DialAddr(ctx, e.endpoint, tc, tunnel.QUICConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.CloseWithError(0, "")
			st, err := conn.OpenStreamSync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Write(tt.header); err != nil {
				t.Fatal(err)
			}
			code, _, err := wire.ReadStatus(st)
			var appErr *quic.ApplicationError
			if err == nil && code != wire.CodeBadHeader || err != nil && (!errors.As(err, &appErr) || appErr.ErrorCode != quic.ApplicationErrorCode(wire.CodeBadHeader)) {
				t.Errorf("status %v, %v; want bad_header", code, err)
			}
		})
	}
	t.Run("wrong ALPN", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tc := e.clientTLS.Clone()
		tc.NextProtos = []string{"h3"}
		if conn, err := quic.DialAddr(ctx, e.endpoint, tc, tunnel.QUICConfig()); err == nil {
			_ = conn.CloseWithError(0, "")
			t.Error("handshake with ALPN h3 succeeded")
		}
	})
}

func TestShutdownRefusesWaiting(t *testing.T) {
	e := newEnv(t, envOptions{})
	var waiting []tunnel.Conn
	for _, tr := range transports {
		waiting = append(waiting, e.mustDial(tr, e.token(e.lease("shutdown-"+tr))))
	}
	waitFor(t, "both waiting", func() bool { return e.srv.Waiting() == 2 })
	e.stop()
	for _, c := range waiting {
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, tunnel.ErrUnreachable) {
			t.Errorf("Read while the router shuts down = %v, want ErrUnreachable", err)
		}
		_ = c.Close()
	}
	if _, err := e.dial(tunnel.TransportGRPC, e.token(e.lease("late"))); !errors.Is(err, tunnel.ErrUnreachable) {
		t.Errorf("dial after shutdown = %v, want ErrUnreachable", err)
	}
}
