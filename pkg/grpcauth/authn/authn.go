package authn

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/token/union"
	"k8s.io/client-go/kubernetes"

	"jumpstarter.dev/service/pkg/auth/token"
	"jumpstarter.dev/service/pkg/credentials"
	"jumpstarter.dev/service/pkg/grpcauth/oidc"
)

// DefaultInternalUsernamePrefix is the reference's prefix of internal usernames.
const DefaultInternalUsernamePrefix = "internal:"

// reservedOIDCPrefix is the Kubernetes system namespace of users; ServiceAccount usernames
// live in it, so an OIDC username there could pass for a ServiceAccount.
const reservedOIDCPrefix = "system:"

// Options say which tokens to accept.
type Options struct {
	// Internal checks the controller's own tokens. Required.
	Internal *credentials.Authenticator
	// InternalIssuer is the iss claim of internal tokens, as given to token.NewVerifier
	// (empty: token.DefaultIssuer). Tokens with another iss go to the other authenticators.
	InternalIssuer string
	// InternalUsernamePrefix is prepended to an internal token's sub (empty:
	// DefaultInternalUsernamePrefix). The authorization layer must use the same prefix.
	InternalUsernamePrefix string

	// OIDCConfigFile, if set, is an AuthenticationConfiguration (apiserver.config.k8s.io)
	// file whose jwt entries are accepted as external issuers.
	OIDCConfigFile string
	// OIDCSigningAlgs restricts the JOSE algorithms of OIDC tokens (empty: all asymmetric
	// ones the apiserver allows).
	OIDCSigningAlgs []string

	// Kubernetes, if set, reviews other tokens with the TokenReview API, so that pods can
	// authenticate with ServiceAccount tokens.
	Kubernetes kubernetes.Interface
	// Audiences a ServiceAccount token must be issued for (TokenReview spec.audiences).
	// Empty: the API server's own audiences, so a pod's default token works; set it (e.g.
	// "jumpstarter") to require a projected token meant for this service, which the
	// controller could not replay against the API server.
	Audiences []string
	// ServiceAccountIssuers are the iss claims of the ServiceAccount tokens worth a
	// TokenReview (empty: DefaultServiceAccountIssuer).
	ServiceAccountIssuers []string
}

// Authenticator is the union of the configured token authenticators.
type Authenticator struct {
	token authenticator.Token
	oidc  *oidc.Authenticator
}

var _ authenticator.Token = (*Authenticator)(nil)

// New builds the authenticators from opts. OIDC issuers keep fetching keys in the
// background until ctx is done; the Authenticator must not be used after that.
func New(ctx context.Context, opts Options) (*Authenticator, error) {
	if opts.Internal == nil {
		return nil, errors.New("token authentication: Internal authenticator is required")
	}
	issuer := opts.InternalIssuer
	if issuer == "" {
		issuer = token.DefaultIssuer
	}
	prefix := opts.InternalUsernamePrefix
	if prefix == "" {
		prefix = DefaultInternalUsernamePrefix
	}
	a := &Authenticator{}
	tokens := []authenticator.Token{NewInternal(opts.Internal, issuer, prefix)}
	if opts.OIDCConfigFile != "" {
		cfg, err := oidc.LoadFile(opts.OIDCConfigFile)
		if err != nil {
			return nil, err
		}
		a.oidc, err = oidc.New(ctx, cfg, oidc.Options{SigningAlgs: opts.OIDCSigningAlgs, DisallowedIssuers: []string{issuer}})
		if err != nil {
			return nil, fmt.Errorf("authentication configuration %s: %w", opts.OIDCConfigFile, err)
		}
		tokens = append(tokens, reservedPrefixes(a.oidc, prefix, reservedOIDCPrefix))
	}
	if opts.Kubernetes != nil {
		sa, err := NewServiceAccount(opts.Kubernetes, opts.Audiences, opts.ServiceAccountIssuers)
		if err != nil {
			return nil, err
		}
		tokens = append(tokens, sa)
	}
	a.token = union.NewFailOnError(tokens...)
	return a, nil
}

// AuthenticateToken implements authenticator.Token. It returns false and no error for a
// token that none of the authenticators recognises.
func (a *Authenticator) AuthenticateToken(ctx context.Context, raw string) (*authenticator.Response, bool, error) {
	return a.token.AuthenticateToken(ctx, raw)
}

// HealthCheck reports OIDC issuers that are not ready yet (discovery or key fetch pending
// or failing); their tokens are refused meanwhile.
func (a *Authenticator) HealthCheck() error {
	if a.oidc == nil {
		return nil
	}
	return a.oidc.HealthCheck()
}

// reservedPrefixes refuses usernames that another authenticator's usernames start with.
func reservedPrefixes(next authenticator.Token, prefixes ...string) authenticator.Token {
	return authenticator.TokenFunc(func(ctx context.Context, raw string) (*authenticator.Response, bool, error) {
		resp, ok, err := next.AuthenticateToken(ctx, raw)
		if !ok || err != nil {
			return resp, ok, err
		}
		name := resp.User.GetName()
		for _, p := range prefixes {
			if strings.HasPrefix(name, p) {
				return nil, false, fmt.Errorf("OIDC username %q starts with the reserved prefix %q; change claimMappings.username of its issuer", name, p)
			}
		}
		return resp, true, nil
	})
}
