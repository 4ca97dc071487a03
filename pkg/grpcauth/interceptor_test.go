package grpcauth

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/emptypb"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"jumpstarter.dev/service/pkg/auth/identity"
	"jumpstarter.dev/service/pkg/grpcauth/authn"
	"jumpstarter.dev/service/pkg/grpcauth/internal/authtest"
	"jumpstarter.dev/service/pkg/grpcauth/internal/testissuer"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

const identityHeader = "x-identity"

// echo is a handler for every method of desc that answers with the caller's identity in a
// response header. Requests and responses decode as Empty: any message does.
func echo(desc grpc.ServiceDesc) *grpc.ServiceDesc {
	out := &grpc.ServiceDesc{ServiceName: desc.ServiceName, HandlerType: (*any)(nil), Metadata: desc.Metadata}
	for _, m := range desc.Methods {
		fullMethod := "/" + desc.ServiceName + "/" + m.MethodName
		out.Methods = append(out.Methods, grpc.MethodDesc{MethodName: m.MethodName,
			Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
				in := &emptypb.Empty{}
				if err := dec(in); err != nil {
					return nil, err
				}
				handler := func(ctx context.Context, _ any) (any, error) {
					return &emptypb.Empty{}, grpc.SetHeader(ctx, metadata.Pairs(identityHeader, describeCaller(ctx)))
				}
				return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: fullMethod}, handler)
			}})
	}
	for _, s := range desc.Streams {
		s.Handler = func(_ any, stream grpc.ServerStream) error {
			return stream.SetHeader(metadata.Pairs(identityHeader, describeCaller(stream.Context())))
		}
		out.Streams = append(out.Streams, s)
	}
	return out
}

func describeCaller(ctx context.Context) string {
	id, ok := identity.FromContext(ctx)
	if !ok {
		return "anonymous"
	}
	return strings.Join([]string{string(id.Kind), id.Namespace, id.Name, id.Username}, "|")
}

type harness struct {
	lab    *authtest.Lab
	issuer *testissuer.Issuer
	auth   *Interceptor
	conn   *grpc.ClientConn
}

func newHarness(t *testing.T, objs ...client.Object) *harness {
	t.Helper()
	h := &harness{lab: authtest.NewLab(t, objs...), issuer: testissuer.New(t)}
	kube, _ := authtest.TokenReviewAPI(t, func(spec authenticationv1.TokenReviewSpec) authenticationv1.TokenReviewStatus {
		for _, sa := range []string{"ci", "other"} {
			if spec.Token == authtest.ServiceAccountToken(authtest.Namespace, sa) {
				return authenticationv1.TokenReviewStatus{Authenticated: true,
					User: authenticationv1.UserInfo{Username: "system:serviceaccount:lab:" + sa}}
			}
		}
		return authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}
	})
	tokens, err := authn.New(t.Context(), authn.Options{
		Internal:       h.lab.Auth,
		OIDCConfigFile: h.issuer.WriteConfig(t, ""),
		Kubernetes:     kube,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return tokens.HealthCheck() == nil, nil }); err != nil {
		t.Fatalf("OIDC issuer not ready: %v", tokens.HealthCheck())
	}
	h.auth, err = New(Config{Authenticator: tokens, Reader: h.lab.Client})
	if err != nil {
		t.Fatal(err)
	}

	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(h.auth.Unary()), grpc.ChainStreamInterceptor(h.auth.Stream()))
	srv.RegisterService(echo(jumpstarterv1.ControllerService_ServiceDesc), struct{}{})
	srv.RegisterService(echo(clientv1.ClientService_ServiceDesc), struct{}{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	h.conn, err = grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.conn.Close() })
	return h
}

// call calls method with md and returns the identity the handler saw.
func (h *harness) call(t *testing.T, method string, md metadata.MD) (string, error) {
	t.Helper()
	ctx := metadata.NewOutgoingContext(t.Context(), md)
	var header metadata.MD
	if method == jumpstarterv1.ControllerService_Listen_FullMethodName || method == jumpstarterv1.ControllerService_Status_FullMethodName {
		s, err := h.conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, method)
		if err != nil {
			return "", err
		}
		if err := s.SendMsg(&emptypb.Empty{}); err != nil {
			return "", err
		}
		if err := s.CloseSend(); err != nil {
			return "", err
		}
		if err := s.RecvMsg(&emptypb.Empty{}); !errors.Is(err, io.EOF) {
			return "", err
		}
		header, _ = s.Header()
	} else if err := h.conn.Invoke(ctx, method, &emptypb.Empty{}, &emptypb.Empty{}, grpc.Header(&header)); err != nil {
		return "", err
	}
	return strings.Join(header.Get(identityHeader), ","), nil
}

// md is the metadata of a call: authorization (if not empty) and jumpstarter-* pairs.
func md(authorization string, kv ...string) metadata.MD {
	m := metadata.Pairs(kv...)
	if authorization != "" {
		m.Append(MetadataAuthorization, authorization)
	}
	return m
}

func as(kind, name string) []string {
	kv := []string{MetadataKind, kind, MetadataNamespace, authtest.Namespace}
	if name != "" {
		kv = append(kv, MetadataName, name)
	}
	return kv
}

func TestInterceptor(t *testing.T) {
	alice := authtest.Client("alice", "uid-alice", "")
	carol := authtest.Client("carol", "uid-carol", "oidc:carol")
	ci := authtest.Client("ci", "uid-ci", "system:serviceaccount:lab:ci")
	dup1 := authtest.Client("dup1", "uid-dup1", "oidc:dave")
	dup2 := authtest.Client("dup2", "uid-dup2", "oidc:dave")
	board := authtest.Exporter("board", "uid-board", "")
	carolsBoard := authtest.Exporter("carols-board", "uid-carols-board", "oidc:carol")
	h := newHarness(t, alice, carol, ci, dup1, dup2, board, carolsBoard)

	aliceToken := "Bearer " + h.lab.Credential(t, alice)
	boardToken := "Bearer " + h.lab.Credential(t, board)
	future := time.Now().Add(time.Hour)
	carolToken := "Bearer " + h.issuer.Token(t, "carol", future, nil)
	daveToken := "Bearer " + h.issuer.Token(t, "dave", future, nil)
	eveToken := "Bearer " + h.issuer.Token(t, "eve", future, nil)
	ciToken := "Bearer " + authtest.ServiceAccountToken("lab", "ci")
	otherSAToken := "Bearer " + authtest.ServiceAccountToken("lab", "other")

	const (
		getExporter  = clientv1.ClientService_GetExporter_FullMethodName
		listLeases   = clientv1.ClientService_ListLeases_FullMethodName
		register     = jumpstarterv1.ControllerService_Register_FullMethodName
		status_      = jumpstarterv1.ControllerService_Status_FullMethodName
		listen       = jumpstarterv1.ControllerService_Listen_FullMethodName
		dial         = jumpstarterv1.ControllerService_Dial_FullMethodName
		releaseLease = jumpstarterv1.ControllerService_ReleaseLease_FullMethodName
	)
	for _, tc := range []struct {
		name     string
		method   string
		md       metadata.MD
		want     string // the identity the handler sees
		wantCode codes.Code
		wantMsg  string // prefix of the message
	}{
		// Happy paths.
		{name: "internal client", method: getExporter, md: md(aliceToken, as("Client", "alice")...),
			want: "Client|lab|alice|internal:client:lab:alice:uid-alice"},
		{name: "bearer prefix is case-insensitive", method: getExporter, md: md("bEARER "+strings.TrimPrefix(aliceToken, "Bearer "), as("Client", "alice")...),
			want: "Client|lab|alice|internal:client:lab:alice:uid-alice"},
		{name: "internal exporter", method: register, md: md(boardToken, as("Exporter", "board")...),
			want: "Exporter|lab|board|internal:exporter:lab:board:uid-board"},
		{name: "exporter stream", method: status_, md: md(boardToken, as("Exporter", "board")...),
			want: "Exporter|lab|board|internal:exporter:lab:board:uid-board"},
		{name: "client on ControllerService", method: dial, md: md(aliceToken, as("Client", "alice")...),
			want: "Client|lab|alice|internal:client:lab:alice:uid-alice"},
		{name: "exporter releases", method: releaseLease, md: md(boardToken, as("Exporter", "board")...),
			want: "Exporter|lab|board|internal:exporter:lab:board:uid-board"},
		{name: "client releases", method: releaseLease, md: md(aliceToken, as("Client", "alice")...),
			want: "Client|lab|alice|internal:client:lab:alice:uid-alice"},
		{name: "service account by spec.username", method: dial, md: md(ciToken, as("Client", "ci")...),
			want: "Client|lab|ci|system:serviceaccount:lab:ci"},
		{name: "oidc name derived", method: listLeases, md: md(carolToken, as("Client", "")...),
			want: "Client|lab|carol|oidc:carol"},
		{name: "oidc name sent", method: listLeases, md: md(carolToken, as("Client", "carol")...),
			want: "Client|lab|carol|oidc:carol"},
		{name: "oidc exporter derived", method: listen, md: md(carolToken, as("Exporter", "")...),
			want: "Exporter|lab|carols-board|oidc:carol"},
		{name: "oidc ambiguous, name picks", method: listLeases, md: md(daveToken, as("Client", "dup2")...),
			want: "Client|lab|dup2|oidc:dave"},
		{name: "health is public", method: healthpb.Health_Check_FullMethodName, md: md(""), want: ""},

		// Step 2.
		{name: "2 no authorization", method: getExporter, md: md("", as("Client", "alice")...),
			wantCode: codes.Unauthenticated, wantMsg: "missing authorization header"},
		// Step 3.
		{name: "3 two authorizations", method: getExporter, md: metadata.Join(md(aliceToken, as("Client", "alice")...), md(aliceToken)),
			wantCode: codes.InvalidArgument, wantMsg: "multiple authorization headers"},
		// Step 4.
		{name: "4 basic", method: getExporter, md: md("Basic YWxpY2U6eA==", as("Client", "alice")...),
			wantCode: codes.InvalidArgument, wantMsg: "malformed authorization header"},
		{name: "4 token without scheme", method: register, md: md(strings.TrimPrefix(boardToken, "Bearer "), as("Exporter", "board")...),
			wantCode: codes.InvalidArgument, wantMsg: "malformed authorization header"},
		{name: "4 empty token", method: getExporter, md: md("Bearer ", as("Client", "alice")...),
			wantCode: codes.InvalidArgument, wantMsg: "malformed authorization header"},
		// Step 5.
		{name: "5 garbage", method: getExporter, md: md("Bearer abc", as("Client", "alice")...),
			wantCode: codes.Unknown, wantMsg: "invalid token"},
		{name: "5 refused service account", method: dial, md: md("Bearer "+authtest.ServiceAccountToken("lab", "nobody"), as("Client", "ci")...),
			wantCode: codes.Unknown, wantMsg: "invalid bearer token"},
		{name: "5 expired oidc", method: listLeases, md: md("Bearer "+h.issuer.Token(t, "carol", time.Now().Add(-time.Minute), nil), as("Client", "")...),
			wantCode: codes.Unknown, wantMsg: "oidc: verify token: oidc: token is expired"},
		// Step 6.
		{name: "6 no namespace", method: getExporter, md: md(aliceToken, MetadataKind, "Client", MetadataName, "alice"),
			wantCode: codes.InvalidArgument, wantMsg: "missing metadata: jumpstarter-namespace"},
		{name: "6 no kind", method: getExporter, md: md(aliceToken, MetadataNamespace, "lab", MetadataName, "alice"),
			wantCode: codes.InvalidArgument, wantMsg: "missing metadata: jumpstarter-kind"},
		{name: "6 two kinds", method: getExporter, md: md(aliceToken, append(as("Client", "alice"), MetadataKind, "Client")...),
			wantCode: codes.InvalidArgument, wantMsg: "multiple metadata: jumpstarter-kind"},
		{name: "6 two namespaces", method: getExporter, md: md(aliceToken, append(as("Client", "alice"), MetadataNamespace, "lab")...),
			wantCode: codes.InvalidArgument, wantMsg: "multiple metadata: jumpstarter-namespace"},
		{name: "6 invalid namespace", method: getExporter, md: md(aliceToken, MetadataKind, "Client", MetadataNamespace, "Lab/x", MetadataName, "alice"),
			wantCode: codes.InvalidArgument, wantMsg: `invalid metadata: jumpstarter-namespace "Lab/x"`},
		// Step 7.
		{name: "7 internal without name", method: getExporter, md: md(aliceToken, as("Client", "")...),
			wantCode: codes.InvalidArgument, wantMsg: "resource name required: send jumpstarter-name with the name of the client"},
		{name: "7 service account without name", method: dial, md: md(ciToken, as("Client", "")...),
			wantCode: codes.InvalidArgument, wantMsg: "resource name required"},
		{name: "7 two names", method: getExporter, md: md(aliceToken, append(as("Client", "alice"), MetadataName, "alice")...),
			wantCode: codes.InvalidArgument, wantMsg: "multiple metadata: jumpstarter-name"},
		{name: "7 invalid name", method: getExporter, md: md(aliceToken, as("Client", "Alice_")...),
			wantCode: codes.InvalidArgument, wantMsg: `invalid metadata: jumpstarter-name "Alice_"`},
		{name: "7 oidc name mismatch", method: listLeases, md: md(carolToken, as("Client", "alice")...),
			wantCode: codes.InvalidArgument, wantMsg: `resource name mismatch: jumpstarter-name is "alice", but user "oidc:carol" is bound to client "carol"`},
		{name: "7 oidc unbound user", method: listLeases, md: md(eveToken, as("Client", "")...),
			wantCode: codes.InvalidArgument, wantMsg: `resource name required: no client in namespace "lab" has spec.username "oidc:eve"`},
		{name: "7 oidc unbound user with name", method: listLeases, md: md(eveToken, as("Client", "alice")...),
			wantCode: codes.InvalidArgument, wantMsg: `resource name mismatch: jumpstarter-name is "alice", but user "oidc:eve" is bound to no client`},
		{name: "7 oidc ambiguous", method: listLeases, md: md(daveToken, as("Client", "")...),
			wantCode: codes.InvalidArgument, wantMsg: `resource name required: clients "dup1", "dup2" in namespace "lab" all have spec.username "oidc:dave"`},
		// Step 8.
		{name: "8 client kind on exporter method", method: register, md: md(aliceToken, as("Client", "alice")...),
			wantCode: codes.InvalidArgument, wantMsg: "object kind mismatch"},
		{name: "8 exporter kind on client service", method: getExporter, md: md(boardToken, as("Exporter", "board")...),
			wantCode: codes.InvalidArgument, wantMsg: "object kind mismatch"},
		{name: "8 kind is case-sensitive", method: dial, md: md(aliceToken, as("client", "alice")...),
			wantCode: codes.InvalidArgument, wantMsg: "object kind mismatch"},
		// Step 9.
		{name: "9 another client's name", method: getExporter, md: md(aliceToken, as("Client", "carol")...),
			wantCode: codes.PermissionDenied, wantMsg: "permission denied for client lab/carol"},
		{name: "9 client token presented as exporter", method: releaseLease, md: md(aliceToken, as("Exporter", "alice")...),
			wantCode: codes.PermissionDenied, wantMsg: "permission denied for exporter lab/alice"},
		{name: "9 exporter token presented as client", method: dial, md: md(boardToken, as("Client", "board")...),
			wantCode: codes.PermissionDenied, wantMsg: "permission denied for client lab/board"},
		{name: "9 missing object looks like a mismatch", method: getExporter, md: md(aliceToken, as("Client", "ghost")...),
			wantCode: codes.PermissionDenied, wantMsg: "permission denied for client lab/ghost"},
		{name: "9 service account not bound", method: dial, md: md(otherSAToken, as("Client", "ci")...),
			wantCode: codes.PermissionDenied, wantMsg: `permission denied for client lab/ci: user "system:serviceaccount:lab:other" may not act as it`},
		{name: "8 oidc user with exporter kind on client service", method: listLeases, md: md(carolToken, as("Exporter", "carols-board")...),
			wantCode: codes.InvalidArgument, wantMsg: "object kind mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := h.call(t, tc.method, tc.md)
			if tc.wantCode != codes.OK {
				st := status.Convert(err)
				if st.Code() != tc.wantCode || !strings.HasPrefix(st.Message(), tc.wantMsg) {
					t.Fatalf("got %v %q, want %v %q...", st.Code(), st.Message(), tc.wantCode, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.method == healthpb.Health_Check_FullMethodName {
				return
			}
			if got != tc.want {
				t.Fatalf("handler saw %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRevokedAndExpired: step 5 for the controller's own tokens, whose errors the clients
// pattern-match.
func TestRevokedAndExpired(t *testing.T) {
	alice := authtest.Client("alice", "uid-alice", "")
	h := newHarness(t, alice)
	old := "Bearer " + h.lab.Credential(t, alice)
	h.lab.Clock.Step(time.Second)
	current := "Bearer " + h.lab.Credential(t, alice)

	_, err := h.call(t, clientv1.ClientService_GetExporter_FullMethodName, md(old, as("Client", "alice")...))
	if st := status.Convert(err); st.Code() != codes.Unknown || !strings.Contains(st.Message(), "token has been revoked") {
		t.Fatalf("rotated token: %v, want UNKNOWN ... token has been revoked", err)
	}
	if _, err := h.call(t, clientv1.ClientService_GetExporter_FullMethodName, md(current, as("Client", "alice")...)); err != nil {
		t.Fatalf("current token: %v", err)
	}
	h.lab.Clock.Step(2 * time.Hour)
	_, err = h.call(t, clientv1.ClientService_GetExporter_FullMethodName, md(current, as("Client", "alice")...))
	if st := status.Convert(err); st.Code() != codes.Unknown || !strings.HasPrefix(st.Message(), "token is expired") {
		t.Fatalf("expired token: %v, want UNKNOWN token is expired", err)
	}
}

// TestRecreatedObject: a token of a deleted and re-created object of the same name is not
// the new object's credential (the UID differs).
func TestRecreatedObject(t *testing.T) {
	alice := authtest.Client("alice", "uid-alice", "")
	h := newHarness(t, alice)
	raw := "Bearer " + h.lab.Credential(t, alice)
	if err := h.lab.Client.Delete(t.Context(), alice); err != nil {
		t.Fatal(err)
	}
	if err := h.lab.Client.Create(t.Context(), authtest.Client("alice", "uid-alice-2", "")); err != nil {
		t.Fatal(err)
	}
	_, err := h.call(t, clientv1.ClientService_GetExporter_FullMethodName, md(raw, as("Client", "alice")...))
	if st := status.Convert(err); st.Code() != codes.Unknown || !strings.Contains(st.Message(), "earlier client lab/alice") {
		t.Fatalf("got %v, want the token refused as issued to an earlier object", err)
	}
}

// TestDirect covers what a real server cannot send: no metadata at all, and methods of the
// protected services that the generated code (and so the server) does not have.
func TestDirect(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name, method string
		ctx          context.Context
		wantCode     codes.Code
		wantMsg      string
	}{
		{name: "1 no metadata", method: clientv1.ClientService_GetLease_FullMethodName, ctx: context.Background(),
			wantCode: codes.InvalidArgument, wantMsg: "missing metadata"},
		{name: "unknown controller method", method: "/jumpstarter.v1.ControllerService/Reboot", ctx: context.Background(),
			wantCode: codes.PermissionDenied, wantMsg: "method /jumpstarter.v1.ControllerService/Reboot has no access rule"},
		{name: "unknown client service method needs a client", method: "/jumpstarter.client.v1.ClientService/Reboot",
			ctx: metadata.NewIncomingContext(context.Background(), metadata.MD{}), wantCode: codes.Unauthenticated, wantMsg: "missing authorization header"},
		{name: "reflection is public", method: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", ctx: context.Background()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			_, err := h.auth.Unary()(tc.ctx, nil, &grpc.UnaryServerInfo{FullMethod: tc.method},
				func(context.Context, any) (any, error) { called = true; return nil, nil })
			st := status.Convert(err)
			if st.Code() != tc.wantCode || !strings.HasPrefix(st.Message(), tc.wantMsg) {
				t.Fatalf("got %v %q, want %v %q", st.Code(), st.Message(), tc.wantCode, tc.wantMsg)
			}
			if called != (tc.wantCode == codes.OK) {
				t.Fatalf("handler called: %v", called)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	lab := authtest.NewLab(t)
	tokens, err := authn.New(t.Context(), authn.Options{Internal: lab.Auth})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "no authenticator", cfg: Config{Reader: lab.Client}, wantErr: "Authenticator is required"},
		{name: "no reader", cfg: Config{Authenticator: tokens}, wantErr: "Reader is required"},
		{name: "system prefix", cfg: Config{Authenticator: tokens, Reader: lab.Client, InternalUsernamePrefix: "system:jumpstarter:"}, wantErr: "overlaps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
