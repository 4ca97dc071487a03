package grpcauth

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"jumpstarter.dev/service/pkg/auth/identity"
	"jumpstarter.dev/service/pkg/grpcauth/internal/authtest"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// values splits a fuzz string into metadata values: "" is no value, "\n" separates several.
func values(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

var fuzzMethods = []string{
	clientv1.ClientService_GetExporter_FullMethodName,
	jumpstarterv1.ControllerService_Register_FullMethodName,
	jumpstarterv1.ControllerService_ReleaseLease_FullMethodName,
	jumpstarterv1.ControllerService_Dial_FullMethodName,
	"/jumpstarter.v1.ControllerService/Unknown",
	"/grpc.health.v1.Health/Check",
}

// FuzzMetadata feeds arbitrary authorization and jumpstarter-* values to the parsers and to
// the whole interceptor (with a stub authenticator: the token "alice" is alice's internal
// credential, "oidc" is the external user oidc:carol). Nothing may panic, and whatever is
// accepted must follow §3.2.
func FuzzMetadata(f *testing.F) {
	f.Add("Bearer alice", "Client", "lab", "alice", 0)
	f.Add("bearer alice", "Client", "lab", "alice", 3)
	f.Add("Bearer alice\nBearer alice", "Client", "lab", "alice", 0)
	f.Add("Bearer ", "Client", "lab", "alice", 0)
	f.Add("Basic alice", "Client", "lab", "alice", 0)
	f.Add("Bearer", "", "", "", 0)
	f.Add("Bearer oidc", "Client", "lab", "", 0)
	f.Add("Bearer oidc", "Exporter", "lab", "carols-board", 1)
	f.Add("Bearer alice", "Exporter", "lab", "alice", 2)
	f.Add("Bearer alice", "Client\nClient", "lab", "alice", 0)
	f.Add("Bearer alice", "Client", "Lab", "alice", 0)
	f.Add("Bearer alice", "Client", "lab", "a/b", 0)
	f.Add("Bearer alice", "Client", "lab", "alice\nbob", 0)
	f.Add("Bearer \x00\xff", "\x00", "\xff", "..", 4)
	f.Add("", "", "", "", 5)

	lab := authtest.NewLab(f,
		authtest.Client("alice", "uid-alice", ""),
		authtest.Client("carol", "uid-carol", "oidc:carol"),
		authtest.Exporter("carols-board", "uid-carols-board", "oidc:carol"))
	stub := authenticator.TokenFunc(func(_ context.Context, raw string) (*authenticator.Response, bool, error) {
		switch raw {
		case "alice":
			return &authenticator.Response{User: &user.DefaultInfo{Name: "internal:client:lab:alice:uid-alice"}}, true, nil
		case "oidc":
			return &authenticator.Response{User: &user.DefaultInfo{Name: "oidc:carol"}}, true, nil
		}
		return nil, false, nil
	})
	auth, err := New(Config{Authenticator: stub, Reader: lab.Client})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, authorization, kind, namespace, name string, method int) {
		md := metadata.MD{}
		for key, v := range map[string]string{MetadataAuthorization: authorization, MetadataKind: kind, MetadataNamespace: namespace, MetadataName: name} {
			if vs := values(v); vs != nil {
				md[key] = vs
			}
		}
		auths := md[MetadataAuthorization]

		raw, err := bearerToken(md)
		if err == nil {
			if len(auths) != 1 || len(auths[0]) <= len(bearerPrefix) || !strings.EqualFold(auths[0][:len(bearerPrefix)], bearerPrefix) || raw != auths[0][len(bearerPrefix):] {
				t.Fatalf("accepted authorization %q as token %q", auths, raw)
			}
		} else if code := status.Code(err); (len(auths) == 0) != (code == codes.Unauthenticated) || (code != codes.Unauthenticated && code != codes.InvalidArgument) {
			t.Fatalf("authorization %q: code %v", auths, code)
		} else if len(auths) == 1 && len(auths[0]) > len(bearerPrefix) && strings.EqualFold(auths[0][:len(bearerPrefix)], bearerPrefix) {
			t.Fatalf("refused well-formed authorization %q: %v", auths, err)
		}

		ns, k, err := objectMetadata(md)
		if err == nil {
			if len(md[MetadataNamespace]) != 1 || ns != md[MetadataNamespace][0] || len(validation.IsDNS1123Label(ns)) > 0 ||
				len(md[MetadataKind]) != 1 || k != md[MetadataKind][0] || k == "" {
				t.Fatalf("accepted namespace %q kind %q as %q %q", md[MetadataNamespace], md[MetadataKind], ns, k)
			}
		} else if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("namespace/kind: code %v", status.Code(err))
		}

		n, err := sentName(md)
		if err == nil && n != "" && (len(md[MetadataName]) != 1 || n != md[MetadataName][0] || len(validation.IsDNS1123Subdomain(n)) > 0) {
			t.Fatalf("accepted name %q as %q", md[MetadataName], n)
		}

		m := fuzzMethods[uint(method)%uint(len(fuzzMethods))]
		var seen *identity.Identity
		_, err = auth.Unary()(metadata.NewIncomingContext(context.Background(), md), nil, &grpc.UnaryServerInfo{FullMethod: m},
			func(ctx context.Context, _ any) (any, error) {
				if id, ok := identity.FromContext(ctx); ok {
					seen = &id
				}
				return nil, nil
			})
		r := ruleFor(m)
		switch {
		case err != nil:
			if s, ok := status.FromError(err); !ok || s.Code() == codes.OK || s.Message() == "" {
				t.Fatalf("error without a status: %v", err)
			}
		case r == rulePublic:
			if seen != nil {
				t.Fatalf("public method got an identity %v", *seen)
			}
		case seen == nil:
			t.Fatalf("%s accepted without an identity", m)
		case r == ruleDeny:
			t.Fatalf("%s has no rule but was accepted", m)
		case string(seen.Kind) != md[MetadataKind][0] || seen.Kind != r.kind(md[MetadataKind][0]) ||
			seen.Namespace != "lab" || len(validation.IsDNS1123Subdomain(seen.Name)) > 0:
			t.Fatalf("%s accepted as %+v from %v", m, *seen, md)
		case seen.Name == "alice" && seen.Username != "internal:client:lab:alice:uid-alice",
			seen.Name != "alice" && seen.Username != "oidc:carol":
			t.Fatalf("%s accepted as %+v from %v", m, *seen, md)
		}
	})
}
