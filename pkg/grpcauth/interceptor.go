package grpcauth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"jumpstarter.dev/service/pkg/auth/identity"
	"jumpstarter.dev/service/pkg/grpcauth/authn"
)

// Config is what the interceptors need.
type Config struct {
	// Authenticator turns a bearer token into a username; normally an *authn.Authenticator.
	Authenticator authenticator.Token
	// Reader reads Clients and Exporters; the manager's cache.
	Reader client.Reader
	// InternalUsernamePrefix is the prefix of internal usernames, as given to the
	// authenticator (empty: authn.DefaultInternalUsernamePrefix).
	InternalUsernamePrefix string
}

// Interceptor authenticates and authorizes ClientService and ControllerService calls.
type Interceptor struct {
	authn authenticator.Token
	authz authorizer
}

// New checks cfg and returns the interceptor.
func New(cfg Config) (*Interceptor, error) {
	if cfg.Authenticator == nil {
		return nil, errors.New("grpc authentication: Authenticator is required")
	}
	if cfg.Reader == nil {
		return nil, errors.New("grpc authentication: Reader is required")
	}
	prefix := cfg.InternalUsernamePrefix
	if prefix == "" {
		prefix = authn.DefaultInternalUsernamePrefix
	}
	if strings.HasPrefix(prefix, "system:") || strings.HasPrefix(serviceaccount.ServiceAccountUsernamePrefix, prefix) {
		return nil, fmt.Errorf("grpc authentication: internal username prefix %q overlaps Kubernetes usernames (system:)", prefix)
	}
	return &Interceptor{authn: cfg.Authenticator, authz: authorizer{reader: cfg.Reader, internalPrefix: prefix}}, nil
}

// Unary is the interceptor for unary calls.
func (i *Interceptor) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := i.check(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream is the interceptor for streaming calls.
func (i *Interceptor) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := i.check(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &serverStream{ServerStream: ss, ctx: ctx})
	}
}

// serverStream is a stream whose context carries the caller's identity.
type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *serverStream) Context() context.Context { return s.ctx }

// check runs §3.2 steps 1 to 9 for a call of method and returns the context the handler
// runs with: the caller's identity and a logger naming it.
func (i *Interceptor) check(ctx context.Context, method string) (context.Context, error) {
	r := ruleFor(method)
	if r == rulePublic {
		return ctx, nil
	}
	logger := klog.FromContext(ctx).WithValues("method", method)
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		logger = logger.WithValues("peer", p.Addr.String())
	}
	id, err := i.identify(ctx, method, r)
	if err != nil {
		st := status.Convert(err)
		logger.V(2).Info("Refused gRPC call", "code", st.Code(), "reason", st.Message())
		return nil, err
	}
	logger = logger.WithValues("caller", id.String(), "username", id.Username)
	logger.V(5).Info("Authorized gRPC call")
	return identity.NewContext(klog.NewContext(ctx, logger), id), nil
}

func (i *Interceptor) identify(ctx context.Context, method string, r rule) (identity.Identity, error) {
	if r == ruleDeny {
		return identity.Identity{}, status.Errorf(codes.PermissionDenied, "method %s has no access rule in this controller", method)
	}
	// 1. Metadata.
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return identity.Identity{}, status.Error(codes.InvalidArgument, "missing metadata")
	}
	// 2-4. One "Bearer <token>".
	raw, err := bearerToken(md)
	if err != nil {
		return identity.Identity{}, err
	}
	// 5. The token, before any jumpstarter-* metadata is looked at: only an authenticated
	// caller makes the controller read objects.
	username, err := i.authenticate(ctx, raw)
	if err != nil {
		return identity.Identity{}, err
	}
	// 6. Namespace and kind.
	namespace, kind, err := objectMetadata(md)
	if err != nil {
		return identity.Identity{}, err
	}
	// 7. Name: sent, or derived from an external username.
	sent, err := sentName(md)
	if err != nil {
		return identity.Identity{}, err
	}
	name, err := i.authz.resolveName(ctx, kind, namespace, username, sent)
	if err != nil {
		return identity.Identity{}, err
	}
	// 8. The kind the method is for.
	want := r.kind(kind)
	if kind != string(want) {
		return identity.Identity{}, status.Errorf(codes.InvalidArgument, "object kind mismatch: %s is called with %s %s, got %q",
			method, MetadataKind, want, kind)
	}
	// 9. The username belongs to the object.
	id := identity.Identity{Kind: want, Namespace: namespace, Name: name, Username: username}
	if err := i.authz.authorize(ctx, id); err != nil {
		return identity.Identity{}, err
	}
	return id, nil
}

// authenticate is step 5. Refusals are UNKNOWN with the authenticator's text, as with the
// reference: clients look for "token is expired" in it, not for a code.
func (i *Interceptor) authenticate(ctx context.Context, raw string) (string, error) {
	resp, ok, err := i.authn.AuthenticateToken(ctx, raw)
	switch {
	case err != nil && ctx.Err() != nil:
		return "", status.FromContextError(ctx.Err()).Err()
	case err != nil:
		return "", status.Error(codes.Unknown, err.Error())
	case !ok || resp == nil || resp.User == nil || resp.User.GetName() == "":
		return "", status.Error(codes.Unknown, "invalid token: no configured issuer accepts it")
	}
	return resp.User.GetName(), nil
}
