package routertoken

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
	clocktesting "k8s.io/utils/clock/testing"
)

var (
	now    = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	testL1 = LeaseRef{Namespace: "lab", Name: "l1", UID: "6f1c1c3e-2f0a-4a43-9c1e-3a9d2f0c0001"}
	key    = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
)

func mustSigner(t testing.TB, k []byte, clk *clocktesting.FakeClock) *Signer {
	t.Helper()
	s, err := NewSigner(k, clk)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustVerifier(t testing.TB, k []byte, clk *clocktesting.FakeClock) *Verifier {
	t.Helper()
	v, err := NewVerifier(k, clk)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sign makes a token with arbitrary claims and algorithm, for the rejection cases.
func sign(t *testing.T, alg jose.SignatureAlgorithm, k []byte, claims ...any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: k}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	b := jwt.Signed(signer)
	for _, c := range claims {
		b = b.Claims(c)
	}
	raw, err := b.Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestMint(t *testing.T) {
	tests := []struct {
		name     string
		leaseEnd time.Time
		wantExp  time.Time
		wantErr  error
	}{
		{"no lease end: full lifetime", time.Time{}, now.Add(Lifetime), nil},
		{"lease ends later", now.Add(2 * time.Hour), now.Add(Lifetime), nil},
		{"lease ends sooner", now.Add(10 * time.Minute), now.Add(10 * time.Minute), nil},
		{"lease end mid-second is rounded down", now.Add(10*time.Minute + 700*time.Millisecond), now.Add(10 * time.Minute), nil},
		{"lease ended", now.Add(-time.Second), time.Time{}, ErrLeaseEnded},
		{"lease ends within the second", now.Add(500 * time.Millisecond), time.Time{}, ErrLeaseEnded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(now)
			raw, claims, err := mustSigner(t, key, clk).Mint(testL1, tt.leaseEnd)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Mint error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !claims.ExpiresAt.Equal(tt.wantExp) {
				t.Errorf("exp = %s, want %s", claims.ExpiresAt, tt.wantExp)
			}
			if !tt.leaseEnd.IsZero() && claims.ExpiresAt.After(tt.leaseEnd) {
				t.Errorf("exp %s is after the lease end %s", claims.ExpiresAt, tt.leaseEnd)
			}
			got, err := mustVerifier(t, key, clk).Verify(raw)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != claims {
				t.Errorf("Verify = %+v, want the minted claims %+v", got, claims)
			}
			if _, err := uuid.Parse(got.StreamID); err != nil || got.ID == got.StreamID || !got.IssuedAt.Equal(now) || !got.NotBefore.Equal(now) {
				t.Errorf("claims %+v: want UUID sub, distinct jti, iat = nbf = now", got)
			}
		})
	}
}

// TestWireClaims pins the JSON claims the router relies on.
func TestWireClaims(t *testing.T) {
	raw, _, err := mustSigner(t, key, clocktesting.NewFakeClock(now)).Mint(testL1, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(raw, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var h map[string]any
	var p map[string]any
	if err := json.Unmarshal(header, &h); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatal(err)
	}
	if h["alg"] != "HS256" || h["typ"] != "JWT" {
		t.Errorf("header = %v", h)
	}
	if p["iss"] != Issuer {
		t.Errorf("iss = %v", p["iss"])
	}
	if aud, ok := p["aud"].([]any); !ok || len(aud) != 1 || aud[0] != Audience {
		t.Errorf("aud = %#v, want [%q]", p["aud"], Audience)
	}
	if p["exp"].(float64)-p["iat"].(float64) != Lifetime.Seconds() || p["nbf"] != p["iat"] {
		t.Errorf("times = iat %v nbf %v exp %v", p["iat"], p["nbf"], p["exp"])
	}
	lease, _ := p["lease"].(map[string]any)
	if lease["namespace"] != "lab" || lease["name"] != "l1" || lease["uid"] != string(testL1.UID) {
		t.Errorf("lease = %v", p["lease"])
	}
	if p["jti"] == "" || p["sub"] == "" {
		t.Errorf("jti/sub missing: %v", p)
	}
}

func TestMintTwiceGivesFreshStreams(t *testing.T) {
	s := mustSigner(t, key, clocktesting.NewFakeClock(now))
	_, a, _ := s.Mint(testL1, time.Time{})
	_, b, _ := s.Mint(testL1, time.Time{})
	if a.StreamID == b.StreamID || a.ID == b.ID {
		t.Errorf("two mints share a stream id or jti: %+v %+v", a, b)
	}
}

func TestVerifyRejects(t *testing.T) {
	otherKey := []byte(strings.Repeat("x", 64))
	good := func(mod func(c *jwt.Claims)) jwt.Claims {
		c := jwt.Claims{
			Issuer:    Issuer,
			Subject:   uuid.NewString(),
			ID:        uuid.NewString(),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			Expiry:    jwt.NewNumericDate(now.Add(time.Minute)),
		}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	aud := map[string]any{"aud": []string{Audience}}
	lease := privateClaims{Lease: &testL1}
	tests := []struct {
		name string
		raw  string
		want error
	}{
		{"accepted HS384", sign(t, jose.HS384, key, good(nil), aud, lease), nil},
		{"accepted HS512", sign(t, jose.HS512, key, good(nil), aud, lease), nil},
		{"accepted single audience string", sign(t, jose.HS256, key, good(func(c *jwt.Claims) { c.Audience = jwt.Audience{Audience} }), lease), nil},
		{"other key", sign(t, jose.HS256, otherKey, good(nil), aud, lease), ErrInvalid},
		{"expired", sign(t, jose.HS256, key, good(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-Leeway - time.Second)) }), aud, lease), ErrExpired},
		{"expired within leeway", sign(t, jose.HS256, key, good(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-Leeway / 2)) }), aud, lease), nil},
		{"no exp", sign(t, jose.HS256, key, good(func(c *jwt.Claims) { c.Expiry = nil }), aud, lease), ErrInvalid},
		{"wrong audience", sign(t, jose.HS256, key, good(nil), map[string]any{"aud": []string{"jumpstarter"}}, lease), ErrWrongAudience},
		{"no audience", sign(t, jose.HS256, key, good(nil), lease), ErrWrongAudience},
		{"wrong issuer", sign(t, jose.HS256, key, good(func(c *jwt.Claims) { c.Issuer = "https://localhost:8085" }), aud, lease), ErrInvalid},
		{"not yet valid", sign(t, jose.HS256, key, good(func(c *jwt.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Minute)) }), aud, lease), ErrInvalid},
		{"issued in the future", sign(t, jose.HS256, key, good(func(c *jwt.Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Minute)) }), aud, lease), ErrInvalid},
		{"sub not a UUID", sign(t, jose.HS256, key, good(func(c *jwt.Claims) { c.Subject = "client:lab:alice:u" }), aud, lease), ErrInvalid},
		{"no lease", sign(t, jose.HS256, key, good(nil), aud), ErrInvalid},
		{"lease without UID", sign(t, jose.HS256, key, good(nil), aud, privateClaims{Lease: &LeaseRef{Namespace: "lab", Name: "l1"}}), ErrInvalid},
		{"none algorithm", "eyJhbGciOiJub25lIn0.e30.", ErrInvalid},
		{"garbage", "not a token", ErrInvalid},
	}
	v := mustVerifier(t, key, clocktesting.NewFakeClock(now))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.raw)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestExpiresAtLeaseEnd(t *testing.T) {
	clk := clocktesting.NewFakeClock(now)
	end := now.Add(5 * time.Minute)
	raw, _, err := mustSigner(t, key, clk).Mint(testL1, end)
	if err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, key, clk)
	clk.SetTime(end.Add(-time.Second))
	if _, err := v.Verify(raw); err != nil {
		t.Fatalf("before the lease end: %v", err)
	}
	clk.SetTime(end.Add(Leeway + time.Second))
	if _, err := v.Verify(raw); !errors.Is(err, ErrExpired) {
		t.Fatalf("after the lease end: %v, want ErrExpired", err)
	}
}

func TestNewRejectsShortKeys(t *testing.T) {
	clk := clocktesting.NewFakeClock(now)
	for _, k := range [][]byte{nil, []byte("short"), []byte(strings.Repeat("k", MinKeySize-1))} {
		if _, err := NewSigner(k, clk); err == nil {
			t.Errorf("NewSigner accepted a %d-byte key", len(k))
		}
		if _, err := NewVerifier(k, clk); err == nil {
			t.Errorf("NewVerifier accepted a %d-byte key", len(k))
		}
	}
	if _, _, err := mustSigner(t, key, clk).Mint(LeaseRef{Namespace: "lab", Name: "l1"}, time.Time{}); err == nil {
		t.Error("Mint accepted a lease without UID")
	}
}

// FuzzVerify: parsing never panics, errors are typed, and nothing but a token our key signed
// is accepted. `go test` runs the seeds; `go test -fuzz FuzzVerify ./pkg/auth/routertoken`
// explores further.
func FuzzVerify(f *testing.F) {
	clk := clocktesting.NewFakeClock(now)
	valid, minted, err := mustSigner(f, key, clk).Mint(testL1, time.Time{})
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
		"eyJhbGciOiJFUzI1NiJ9." + parts[1] + "." + parts[2],
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
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrExpired) && !errors.Is(err, ErrWrongAudience) {
				t.Errorf("Verify(%q) error %v is untyped", raw, err)
			}
			return
		}
		// Fuzz workers are separate processes, each minting its own seed token: compare what
		// does not depend on the random stream id and jti.
		if claims.Lease != minted.Lease || !claims.ExpiresAt.Equal(minted.ExpiresAt) || !claims.IssuedAt.Equal(minted.IssuedAt) {
			t.Errorf("Verify(%q) accepted claims %+v", raw, claims)
		}
	})
}
