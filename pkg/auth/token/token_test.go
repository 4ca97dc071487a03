package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	clocktesting "k8s.io/utils/clock/testing"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

var alice = Subject{Kind: KindClient, Namespace: "lab", Name: "alice", UID: "0b7e4a8e-8d59-4b8f-9c33-0c8b8f0e1a01"}

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func mustIssuer(t testing.TB, key *ecdsa.PrivateKey, clk *clocktesting.FakeClock) *Issuer {
	t.Helper()
	i, err := NewIssuer(key, "", 0, clk)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func mustVerifier(t testing.TB, key *ecdsa.PrivateKey, clk *clocktesting.FakeClock) *Verifier {
	t.Helper()
	v, err := NewVerifier(&key.PublicKey, "", clk)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sign makes a token with arbitrary claims and algorithm, for the rejection cases.
func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, claims jwt.Claims) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestIssueAndVerify(t *testing.T) {
	key := mustKey(t)
	clk := clocktesting.NewFakeClock(now)
	raw, issued, err := mustIssuer(t, key, clk).Issue(alice)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(DefaultLifetime); !issued.ExpiresAt.Equal(want) || !issued.IssuedAt.Equal(now) {
		t.Errorf("issued claims %+v, want iat %s exp %s", issued, now, want)
	}

	// The wire contract (§3.3): compact JWS, ES256, and exactly the reference claims.
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a compact JWS", raw)
	}
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if !strings.Contains(string(header), `"alg":"ES256"`) {
		t.Errorf("header %s, want alg ES256", header)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	want := `{"aud":["jumpstarter"],"exp":` + strconv.FormatInt(now.Add(DefaultLifetime).Unix(), 10) + `,"iat":` + strconv.FormatInt(now.Unix(), 10) +
		`,"iss":"https://localhost:8085","sub":"client:lab:alice:0b7e4a8e-8d59-4b8f-9c33-0c8b8f0e1a01"}`
	if string(payload) != want {
		t.Errorf("payload\n %s\nwant\n %s", payload, want)
	}

	got, err := mustVerifier(t, key, clk).Verify(raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Subject != alice || !got.ExpiresAt.Equal(issued.ExpiresAt) || !got.IssuedAt.Equal(issued.IssuedAt) {
		t.Errorf("Verify = %+v, want %+v", got, issued)
	}
}

func TestVerifyRejects(t *testing.T) {
	key := mustKey(t)
	otherKey := mustKey(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := func() jwt.Claims {
		return jwt.Claims{
			Issuer: DefaultIssuer, Audience: jwt.Audience{Audience}, Subject: alice.String(),
			IssuedAt: jwt.NewNumericDate(now.Add(-time.Hour)), Expiry: jwt.NewNumericDate(now.Add(time.Hour)),
		}
	}
	with := func(f func(*jwt.Claims)) jwt.Claims { c := good(); f(&c); return c }

	tests := []struct {
		name    string
		raw     string
		wantErr error
		text    string
	}{
		{"expired", sign(t, jose.ES256, key, with(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-2 * Leeway)) })), ErrExpired, "token is expired"},
		{"wrong audience", sign(t, jose.ES256, key, with(func(c *jwt.Claims) { c.Audience = jwt.Audience{"kubernetes"} })), ErrInvalid, "audience"},
		{"no audience", sign(t, jose.ES256, key, with(func(c *jwt.Claims) { c.Audience = nil })), ErrInvalid, "audience"},
		{"wrong issuer", sign(t, jose.ES256, key, with(func(c *jwt.Claims) { c.Issuer = "https://evil.example" })), ErrInvalid, "issuer"},
		{"no exp", sign(t, jose.ES256, key, with(func(c *jwt.Claims) { c.Expiry = nil })), ErrInvalid, "no exp"},
		{"issued in the future", sign(t, jose.ES256, key, with(func(c *jwt.Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) })), ErrInvalid, "future"},
		{"bad subject", sign(t, jose.ES256, key, with(func(c *jwt.Claims) { c.Subject = "system:serviceaccount:lab:alice" })), ErrInvalid, "subject"},
		{"other key", sign(t, jose.ES256, otherKey, good()), ErrInvalid, "signature"},
		{"HS256", sign(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), good()), ErrInvalid, ""},
		{"ES384", sign(t, jose.ES384, p384, good()), ErrInvalid, ""},
		{"alg none", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"`+alice.String()+`"}`)) + ".", ErrInvalid, ""},
		{"empty", "", ErrInvalid, ""},
		{"garbage", "not a token", ErrInvalid, ""},
	}
	v := mustVerifier(t, key, clocktesting.NewFakeClock(now))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.raw)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("Verify error %q does not mention %q", err, tt.text)
			}
		})
	}
}

func TestExpiryLeeway(t *testing.T) {
	key := mustKey(t)
	clk := clocktesting.NewFakeClock(now)
	raw, claims, err := mustIssuer(t, key, clk).Issue(alice)
	if err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, key, clk)
	clk.SetTime(claims.ExpiresAt.Add(Leeway / 2))
	if _, err := v.Verify(raw); err != nil {
		t.Errorf("within leeway: %v", err)
	}
	clk.SetTime(claims.ExpiresAt.Add(Leeway + time.Second))
	if _, err := v.Verify(raw); !errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), "token is expired") {
		t.Errorf("past leeway: %v, want an error saying token is expired", err)
	}
}

func TestNewIssuerRejectsOtherCurves(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewIssuer(p384, "", 0, clocktesting.NewFakeClock(now)); err == nil {
		t.Error("NewIssuer accepted a P-384 key")
	}
	if _, err := NewVerifier(&p384.PublicKey, "", clocktesting.NewFakeClock(now)); err == nil {
		t.Error("NewVerifier accepted a P-384 key")
	}
}

func TestSubject(t *testing.T) {
	tests := []struct {
		sub     string
		want    Subject
		wantErr bool
	}{
		{sub: "client:lab:alice:u1", want: Subject{KindClient, "lab", "alice", "u1"}},
		{sub: "exporter:lab:board-1:u2", want: Subject{KindExporter, "lab", "board-1", "u2"}},
		{sub: "lease:lab:x:u", wantErr: true},
		{sub: "client:lab:alice", wantErr: true},
		{sub: "client:lab:alice:u1:extra", wantErr: true},
		{sub: "client::alice:u1", wantErr: true},
		{sub: "client:lab:alice:", wantErr: true},
		{sub: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.sub, func(t *testing.T) {
			got, err := ParseSubject(tt.sub)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSubject(%q) error %v, wantErr %v", tt.sub, err, tt.wantErr)
			}
			if err == nil && (got != tt.want || got.String() != tt.sub) {
				t.Errorf("ParseSubject(%q) = %+v (%s), want %+v", tt.sub, got, got, tt.want)
			}
		})
	}
	if _, _, err := mustIssuer(t, mustKey(t), clocktesting.NewFakeClock(now)).Issue(Subject{Kind: KindClient, Namespace: "lab", Name: "a:b", UID: "u"}); err == nil {
		t.Error("Issue accepted a name with a colon")
	}
}

// FuzzVerify: parsing never panics, and nothing but a token our key signed is accepted. `go
// test` runs the seeds; `go test -fuzz FuzzVerify ./pkg/auth/token` explores further.
func FuzzVerify(f *testing.F) {
	key := mustKey(f)
	clk := clocktesting.NewFakeClock(now)
	valid, _, err := mustIssuer(f, key, clk).Issue(alice)
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(valid, ".")
	for _, seed := range []string{
		valid,
		"", ".", "..", "...", "a.b.c", "not a token",
		parts[0] + "." + parts[1] + ".",
		parts[0] + ".." + parts[2],
		"." + parts[1] + "." + parts[2],
		parts[0] + "." + parts[1] + "." + parts[2] + "." + parts[2],
		"eyJhbGciOiJub25lIn0." + parts[1] + ".",
		"eyJhbGciOiJIUzI1NiJ9." + parts[1] + "." + parts[2],
		"e30.e30.e30",
		`{"payload":"e30","signatures":[]}`,
		strings.Repeat("A", 4096) + "." + strings.Repeat("B", 4096) + "." + strings.Repeat("C", 4096),
	} {
		f.Add(seed)
	}
	v := mustVerifier(f, key, clk)
	f.Fuzz(func(t *testing.T, raw string) {
		claims, err := v.Verify(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired) {
				t.Errorf("Verify(%q) error %v wraps neither ErrInvalid nor ErrExpired", raw, err)
			}
			return
		}
		// Only our own token (possibly re-encoded) can verify.
		if claims.Subject != alice {
			t.Errorf("Verify(%q) accepted subject %s", raw, claims.Subject)
		}
	})
}
