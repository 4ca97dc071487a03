package authn

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"jumpstarter.dev/service/pkg/auth/token"
	"jumpstarter.dev/service/pkg/grpcauth/internal/authtest"
	"jumpstarter.dev/service/pkg/grpcauth/internal/testissuer"
)

// review answers like the API server: ServiceAccount tokens of lab/ci are valid, the token
// "kube-user" is a non-ServiceAccount user, anything else is refused.
func review(spec authenticationv1.TokenReviewSpec) authenticationv1.TokenReviewStatus {
	switch spec.Token {
	case authtest.ServiceAccountToken("lab", "ci"):
		return authenticationv1.TokenReviewStatus{
			Authenticated: true,
			User:          authenticationv1.UserInfo{Username: "system:serviceaccount:lab:ci"},
			Audiences:     spec.Audiences,
		}
	case authtest.ServiceAccountToken("lab", "kube-user"):
		return authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "kube:admin"}}
	}
	return authenticationv1.TokenReviewStatus{Error: "invalid bearer token"}
}

func waitHealthy(t *testing.T, a *Authenticator) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 10*time.Second, true,
		func(context.Context) (bool, error) { return a.HealthCheck() == nil, nil })
	if err != nil {
		t.Fatalf("OIDC issuer never became ready: %v", a.HealthCheck())
	}
}

func TestAuthenticateToken(t *testing.T) {
	alice := authtest.Client("alice", "uid-a", "")
	board := authtest.Exporter("board", "uid-b", "")
	lab := authtest.NewLab(t, alice, board)
	iss := testissuer.New(t)
	kube, reviews := authtest.TokenReviewAPI(t, review)
	a, err := New(t.Context(), Options{Internal: lab.Auth, OIDCConfigFile: iss.WriteConfig(t, ""), Kubernetes: kube})
	if err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, a)

	// A token with the internal issuer but signed by another key.
	otherLab := authtest.NewLab(t, alice)
	forged := otherLab.Credential(t, alice)
	future := time.Now().Add(time.Hour)

	for _, tc := range []struct {
		name       string
		token      string
		wantUser   string
		wantErr    string
		wantReview bool
	}{
		{name: "internal client", token: lab.Credential(t, alice), wantUser: "internal:client:lab:alice:uid-a"},
		{name: "internal exporter", token: lab.Credential(t, board), wantUser: "internal:exporter:lab:board:uid-b"},
		{name: "internal forged", token: forged, wantErr: "invalid token: signature"},
		{name: "oidc", token: iss.Token(t, "alice@example.com", future, nil), wantUser: "oidc:alice@example.com"},
		{name: "oidc expired", token: iss.Token(t, "alice@example.com", time.Now().Add(-time.Minute), nil), wantErr: "token is expired"},
		{name: "service account", token: authtest.ServiceAccountToken("lab", "ci"), wantUser: "system:serviceaccount:lab:ci", wantReview: true},
		{name: "kubernetes user that is no service account", token: authtest.ServiceAccountToken("lab", "kube-user"), wantReview: true,
			wantErr: `the Kubernetes API authenticated the token as "kube:admin", which is not a ServiceAccount`},
		{name: "refused by token review", token: authtest.ServiceAccountToken("lab", "nobody"), wantErr: "invalid bearer token", wantReview: true},
		{name: "not a JWT is nobody's", token: "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(authtest.Reviews(reviews))
			resp, ok, err := a.AuthenticateToken(t.Context(), tc.token)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %v, want one containing %q", err, tc.wantErr)
				}
			case err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.wantUser == "" && ok:
				t.Errorf("authenticated as %q, want not recognised", resp.User.GetName())
			case tc.wantUser != "" && (!ok || resp.User.GetName() != tc.wantUser):
				t.Errorf("got ok=%v user %v, want %q", ok, resp, tc.wantUser)
			}
			// Tokens an issuer owns never go to TokenReview, refused or not.
			if reviewed := len(authtest.Reviews(reviews)) > before; reviewed != tc.wantReview {
				t.Errorf("token reviewed: %v, want %v", reviewed, tc.wantReview)
			}
		})
	}
}

func TestInternalExpiredAndRotated(t *testing.T) {
	alice := authtest.Client("alice", "uid-a", "")
	lab := authtest.NewLab(t, alice)
	a, err := New(t.Context(), Options{Internal: lab.Auth, InternalUsernamePrefix: "jumpstarter:"})
	if err != nil {
		t.Fatal(err)
	}
	old := lab.Credential(t, alice)
	resp, ok, err := a.AuthenticateToken(t.Context(), old)
	if err != nil || !ok || resp.User.GetName() != "jumpstarter:client:lab:alice:uid-a" {
		t.Fatalf("got %v %v %v, want the custom prefix", resp, ok, err)
	}

	lab.Clock.Step(time.Second) // a different iat, so a different token
	current := lab.Credential(t, alice)
	if _, _, err := a.AuthenticateToken(t.Context(), old); err == nil || !strings.Contains(err.Error(), "token has been revoked") {
		t.Fatalf("rotated token: error %v, want revoked", err)
	}
	if _, ok, err := a.AuthenticateToken(t.Context(), current); !ok || err != nil {
		t.Fatalf("current token: %v %v", ok, err)
	}

	lab.Clock.Step(2 * time.Hour)
	_, _, err = a.AuthenticateToken(t.Context(), current)
	if err == nil || !strings.Contains(err.Error(), "token is expired") {
		t.Fatalf("expired token: error %v, want one containing %q", err, "token is expired")
	}
}

func TestServiceAccountAudiences(t *testing.T) {
	lab := authtest.NewLab(t)
	var (
		mu    sync.Mutex
		asked [][]string
	)
	kube, _ := authtest.TokenReviewAPI(t, func(spec authenticationv1.TokenReviewSpec) authenticationv1.TokenReviewStatus {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, spec.Audiences)
		st := review(spec)
		// The API server answers with the requested audiences the token has.
		st.Audiences = nil
		if slices.Contains(spec.Audiences, "jumpstarter") && spec.Token == authtest.ServiceAccountToken("lab", "ci") {
			st.Audiences = []string{"jumpstarter"}
		}
		return st
	})
	a, err := New(t.Context(), Options{Internal: lab.Auth, Kubernetes: kube, Audiences: []string{"jumpstarter"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, ok, err := a.AuthenticateToken(t.Context(), authtest.ServiceAccountToken("lab", "ci"))
	if err != nil || !ok || resp.User.GetName() != "system:serviceaccount:lab:ci" {
		t.Fatalf("got %v %v %v", resp, ok, err)
	}
	// Cached: a second call does not review again.
	if _, ok, _ := a.AuthenticateToken(t.Context(), authtest.ServiceAccountToken("lab", "ci")); !ok {
		t.Fatal("second call refused")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 1 || !slices.Equal(asked[0], []string{"jumpstarter"}) {
		t.Fatalf("reviews asked for audiences %v, want one review for [jumpstarter]", asked)
	}
}

func TestReservedOIDCUsernames(t *testing.T) {
	lab := authtest.NewLab(t)
	for _, prefix := range []string{"system:", "internal:"} {
		t.Run(prefix, func(t *testing.T) {
			iss := testissuer.New(t)
			iss.UsernamePrefix = prefix
			a, err := New(t.Context(), Options{Internal: lab.Auth, OIDCConfigFile: iss.WriteConfig(t, "")})
			if err != nil {
				t.Fatal(err)
			}
			waitHealthy(t, a)
			_, ok, err := a.AuthenticateToken(t.Context(), iss.Token(t, "serviceaccount:lab:ci", time.Now().Add(time.Hour), nil))
			if ok || err == nil || !strings.Contains(err.Error(), "reserved prefix") {
				t.Fatalf("got ok=%v err=%v, want the reserved prefix refused", ok, err)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	lab := authtest.NewLab(t)
	internalIssuerConfig := filepath.Join(t.TempDir(), "auth.yaml")
	if err := os.WriteFile(internalIssuerConfig, []byte(`apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
  - issuer: {url: "`+token.DefaultIssuer+`", audiences: [jumpstarter]}
    claimMappings: {username: {claim: sub, prefix: ""}}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{name: "no internal", opts: Options{}, wantErr: "Internal authenticator is required"},
		{name: "missing file", opts: Options{Internal: lab.Auth, OIDCConfigFile: "/nonexistent/auth.yaml"}, wantErr: "no such file"},
		{name: "internal issuer as OIDC issuer", opts: Options{Internal: lab.Auth, OIDCConfigFile: internalIssuerConfig},
			wantErr: "jwt[0].issuer.url: Invalid value: \"https://localhost:8085\": URL must not overlap with disallowed issuers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(t.Context(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestServiceAccountIssuerGate: a JWT-shaped token from another issuer never costs a
// TokenReview; one from the configured ServiceAccount issuer does.
func TestServiceAccountIssuerGate(t *testing.T) {
	lab := authtest.NewLab(t)
	enc := func(v string) string { return base64.RawURLEncoding.EncodeToString([]byte(v)) }
	foreign := enc(`{"alg":"RS256"}`) + "." + enc(`{"iss":"https://attacker.example","sub":"x"}`) + ".c2ln"
	tests := []struct {
		name       string
		issuers    []string
		token      string
		wantReview bool
	}{
		{"another issuer", nil, foreign, false},
		{"the default issuer", nil, authtest.ServiceAccountToken("lab", "ci"), true},
		{"a configured issuer only", []string{"https://other.example"}, authtest.ServiceAccountToken("lab", "ci"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kube, fake := authtest.TokenReviewAPI(t, func(authenticationv1.TokenReviewSpec) authenticationv1.TokenReviewStatus {
				return authenticationv1.TokenReviewStatus{Authenticated: false, Error: "invalid token"}
			})
			a, err := New(t.Context(), Options{Internal: lab.Auth, Kubernetes: kube, ServiceAccountIssuers: tt.issuers})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := a.AuthenticateToken(t.Context(), tt.token); ok {
				t.Fatal("token accepted")
			}
			if reviewed := len(authtest.Reviews(fake)) > 0; reviewed != tt.wantReview {
				t.Errorf("reviewed = %v, want %v", reviewed, tt.wantReview)
			}
		})
	}
}
