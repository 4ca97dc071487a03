package oidc

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"jumpstarter.dev/service/pkg/grpcauth/internal/testissuer"
)

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    string
		wantErr string
		wantJWT int
	}{
		{name: "empty", data: "", wantErr: "empty authentication configuration"},
		{name: "v1 with one issuer", wantJWT: 1, data: `apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
  - issuer: {url: https://issuer.example, audiences: [a]}
    claimMappings: {username: {claim: sub, prefix: ""}}
`},
		{name: "v1beta1 is converted", wantJWT: 1, data: `apiVersion: apiserver.config.k8s.io/v1beta1
kind: AuthenticationConfiguration
jwt:
  - issuer: {url: https://issuer.example, audiences: [a]}
    claimMappings: {username: {claim: sub, prefix: ""}}
`},
		{name: "unknown field", wantErr: `unknown field "jwt[0].issuer.audience"`, data: `apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
  - issuer: {url: https://issuer.example, audience: a}
`},
		{name: "wrong kind", wantErr: "AuthorizationConfiguration", data: `apiVersion: apiserver.config.k8s.io/v1
kind: AuthorizationConfiguration
authorizers: [{type: AlwaysAllow, name: all}]
`},
		{name: "not a config", data: "hello: world", wantErr: "decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load([]byte(tc.data))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load: error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.JWT) != tc.wantJWT {
				t.Fatalf("got %d jwt entries, want %d", len(cfg.JWT), tc.wantJWT)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	const internalIssuer = "https://localhost:8085"
	for _, tc := range []struct {
		name, data, wantErr string
	}{
		{name: "http issuer", wantErr: "jwt[0].issuer.url: Invalid value: \"http://issuer.example\": URL scheme must be https", data: `apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
  - issuer: {url: http://issuer.example, audiences: [a]}
    claimMappings: {username: {claim: sub, prefix: ""}}
`},
		{name: "no audience", wantErr: "jwt[0].issuer.audiences: Required value", data: `apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
  - issuer: {url: https://issuer.example}
    claimMappings: {username: {claim: sub, prefix: ""}}
`},
		{name: "internal issuer", wantErr: "URL must not overlap with disallowed issuers", data: `apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
  - issuer: {url: ` + internalIssuer + `, audiences: [jumpstarter]}
    claimMappings: {username: {claim: sub, prefix: ""}}
`},
		{name: "bad CEL", wantErr: "jwt[0].claimMappings.username.expression", data: `apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
  - issuer: {url: https://issuer.example, audiences: [a]}
    claimMappings: {username: {expression: "claims.sub +"}}
`},
		{name: "anonymous", wantErr: "anonymous: Forbidden: not supported", data: `apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
anonymous: {enabled: true}
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load([]byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			_, err = New(t.Context(), cfg, Options{DisallowedIssuers: []string{internalIssuer}})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New: error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestLocalIssuer runs the apiserver's JWT authenticator against a real issuer over HTTPS.
func TestLocalIssuer(t *testing.T) {
	iss := testissuer.New(t)
	other := testissuer.New(t)
	// A CEL rule proves the apiserver's claim validation is in play.
	cfg, err := LoadFile(iss.WriteConfig(t, `    claimValidationRules:
      - expression: "!has(claims.team) || claims.team == 'lab'"
        message: "team must be lab"
`))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(t.Context(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, a)

	future := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name     string
		token    string
		wantUser string
		wantOK   bool
		wantErr  string
	}{
		{name: "valid", token: iss.Token(t, "alice", future, nil), wantOK: true, wantUser: "oidc:alice"},
		{name: "expired", token: iss.Token(t, "alice", time.Now().Add(-time.Hour), nil), wantErr: "token is expired"},
		{name: "wrong audience", token: iss.Token(t, "alice", future, map[string]any{"aud": "someone-else"}), wantErr: "expected audience"},
		{name: "claim rule", token: iss.Token(t, "alice", future, map[string]any{"team": "ops"}), wantErr: "team must be lab"},
		{name: "other issuer is not ours", token: other.Token(t, "alice", future, nil)},
		{name: "forged with our iss", token: other.Token(t, "alice", future, map[string]any{"iss": iss.URL}), wantErr: "failed to verify signature"},
		{name: "not a JWT", token: "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, ok, err := a.AuthenticateToken(t.Context(), tc.token)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if ok && resp.User.GetName() != tc.wantUser {
				t.Fatalf("user %q, want %q", resp.User.GetName(), tc.wantUser)
			}
		})
	}
}

func TestEmptyConfigRecognisesNothing(t *testing.T) {
	cfg, err := Load([]byte("apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(t.Context(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := a.AuthenticateToken(t.Context(), "a.b.c"); ok || err != nil {
		t.Fatalf("got ok=%v err=%v, want neither", ok, err)
	}
	if err := a.HealthCheck(); err != nil {
		t.Fatal(err)
	}
}

func waitHealthy(t *testing.T, a *Authenticator) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return a.HealthCheck() == nil, nil })
	if err != nil {
		t.Fatalf("issuer never became ready: %v", a.HealthCheck())
	}
}
