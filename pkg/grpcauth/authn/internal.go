package authn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"jumpstarter.dev/service/pkg/credentials"
)

// Internal adapts credentials.Authenticator to authenticator.Token.
type Internal struct {
	auth   *credentials.Authenticator
	issuer string
	prefix string
}

var _ authenticator.Token = (*Internal)(nil)

// NewInternal accepts the tokens auth accepts, claiming those whose iss is issuer. The
// username is usernamePrefix + the token's sub.
func NewInternal(auth *credentials.Authenticator, issuer, usernamePrefix string) *Internal {
	return &Internal{auth: auth, issuer: issuer, prefix: usernamePrefix}
}

// AuthenticateToken implements authenticator.Token. Errors of tokens with the internal
// issuer are those of credentials.Authenticator: they wrap token.ErrExpired ("token is
// expired"), token.ErrInvalid or credentials.ErrRevoked.
func (i *Internal) AuthenticateToken(ctx context.Context, raw string) (*authenticator.Response, bool, error) {
	if iss, ok := unverifiedIssuer(raw); !ok || iss != i.issuer {
		return nil, false, nil
	}
	claims, err := i.auth.Authenticate(ctx, raw)
	if err != nil {
		return nil, false, err
	}
	return &authenticator.Response{User: &user.DefaultInfo{
		Name: i.prefix + claims.Subject.String(),
		UID:  string(claims.Subject.UID),
	}}, true, nil
}

// unverifiedIssuer is the iss claim of a compact JWS, read without verifying anything. It
// only routes a token to the authenticator that will verify it.
func unverifiedIssuer(raw string) (string, bool) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var claims struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", false
	}
	return claims.Issuer, true
}
