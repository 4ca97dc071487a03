package testissuer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Audience is the audience the generated configuration accepts.
const Audience = "jumpstarter-oidc"

// UsernamePrefix is the default username prefix of the generated configuration: usernames
// are UsernamePrefix + sub.
const UsernamePrefix = "oidc:"

// Issuer is a running OIDC issuer.
type Issuer struct {
	// URL is the issuer URL (the iss claim), https://127.0.0.1:<port>.
	URL string
	// CA is the PEM certificate the server presents; trust it to reach the issuer.
	CA string
	// UsernamePrefix goes into the configuration's username claim mapping.
	UsernamePrefix string
	signer         jose.Signer
}

// New starts an issuer that stops when the test ends.
func New(t testing.TB) *Issuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	const kid = "test-key"
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), kid))
	if err != nil {
		t.Fatal(err)
	}
	iss := &Issuer{signer: signer, UsernamePrefix: UsernamePrefix}
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"}}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                iss.URL,
			"jwks_uri":                              iss.URL + "/keys",
			"id_token_signing_alg_values_supported": []string{string(jose.ES256)},
		})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, jwks) })
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	iss.URL = srv.URL
	iss.CA = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	return iss
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Token signs a token for sub, valid from an hour ago until exp, with this issuer and
// Audience. Extra claims are added or override the defaults.
func (i *Issuer) Token(t testing.TB, sub string, exp time.Time, extra map[string]any) string {
	t.Helper()
	claims := map[string]any{
		"iss": i.URL,
		"aud": []string{Audience},
		"sub": sub,
		"iat": time.Now().Add(-time.Hour).Unix(),
		"exp": exp.Unix(),
	}
	for k, v := range extra {
		claims[k] = v
	}
	raw, err := jwt.Signed(i.signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Config is an AuthenticationConfiguration (apiserver.config.k8s.io/v1) with one jwt entry
// for this issuer: audience Audience, username i.UsernamePrefix + sub. Extra YAML is appended
// to the entry (indent it by four spaces).
func (i *Issuer) Config(extra string) string {
	return fmt.Sprintf(`apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
  - issuer:
      url: %s
      audiences: [%s]
      certificateAuthority: |
%s
    claimMappings:
      username:
        claim: sub
        prefix: %q
%s`, i.URL, Audience, indent(i.CA, "        "), i.UsernamePrefix, extra)
}

// WriteConfig writes Config(extra) to a file in a temporary directory and returns its path.
func (i *Issuer) WriteConfig(t testing.TB, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "authentication.yaml")
	if err := os.WriteFile(path, []byte(i.Config(extra)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for n, l := range lines {
		lines[n] = prefix + l
	}
	return strings.Join(lines, "\n")
}
