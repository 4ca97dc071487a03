package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/utils/clock"
)

const (
	// DefaultIssuer is the iss claim of the reference implementation.
	DefaultIssuer = "https://localhost:8085"
	// Audience is the only aud claim of internal tokens.
	Audience = "jumpstarter"
	// DefaultLifetime is how long an issued token is valid (reference default: 365 days).
	DefaultLifetime = 365 * 24 * time.Hour
	// Leeway is the clock skew tolerated when checking exp and iat.
	Leeway = time.Minute
)

// Algorithm is the only signature algorithm issued and accepted.
const Algorithm = jose.ES256

// Errors a caller can tell apart with errors.Is. Clients pattern-match the text of ErrExpired
// ("token is expired") to offer re-authentication, so it must not change.
var (
	ErrExpired = errors.New("token is expired")
	ErrInvalid = errors.New("invalid token")
)

// Claims are the verified claims of a token.
type Claims struct {
	Subject   Subject
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Issuer signs internal tokens.
type Issuer struct {
	issuer   string
	lifetime time.Duration
	signer   jose.Signer
	clock    clock.PassiveClock
}

// NewIssuer signs with key, a P-256 private key. An empty issuer means DefaultIssuer, a zero
// lifetime DefaultLifetime.
func NewIssuer(key *ecdsa.PrivateKey, issuer string, lifetime time.Duration, clk clock.PassiveClock) (*Issuer, error) {
	if err := checkCurve(key); err != nil {
		return nil, err
	}
	if issuer == "" {
		issuer = DefaultIssuer
	}
	if lifetime == 0 {
		lifetime = DefaultLifetime
	}
	if lifetime < 0 {
		return nil, fmt.Errorf("token lifetime %s is negative", lifetime)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: Algorithm, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("create token signer: %w", err)
	}
	return &Issuer{issuer: issuer, lifetime: lifetime, signer: signer, clock: clk}, nil
}

// Lifetime is how long the tokens this issuer signs are valid.
func (i *Issuer) Lifetime() time.Duration { return i.lifetime }

// Issue signs a token for sub that expires one lifetime from now.
func (i *Issuer) Issue(sub Subject) (string, Claims, error) {
	if err := sub.validate(); err != nil {
		return "", Claims{}, fmt.Errorf("issue token: %w", err)
	}
	// JWT times have second precision; truncate so that the returned claims equal the token's.
	now := i.clock.Now().Truncate(time.Second)
	exp := now.Add(i.lifetime)
	raw, err := jwt.Signed(i.signer).Claims(jwt.Claims{
		Issuer:   i.issuer,
		Subject:  sub.String(),
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(exp),
	}).Claims(map[string]any{
		// An array like the reference's; jwt.Audience would write a single audience as a string.
		"aud": []string{Audience},
	}).Serialize()
	if err != nil {
		return "", Claims{}, fmt.Errorf("sign token for %s: %w", sub, err)
	}
	return raw, Claims{Subject: sub, IssuedAt: now, ExpiresAt: exp}, nil
}

// Verifier checks internal tokens: signature, issuer, audience and expiry.
type Verifier struct {
	issuer string
	key    *ecdsa.PublicKey
	clock  clock.PassiveClock
}

// NewVerifier accepts tokens signed by key's private half with issuer (empty: DefaultIssuer).
func NewVerifier(key *ecdsa.PublicKey, issuer string, clk clock.PassiveClock) (*Verifier, error) {
	if key == nil || key.Curve != elliptic.P256() {
		return nil, errors.New("token verification key must be a P-256 public key")
	}
	if issuer == "" {
		issuer = DefaultIssuer
	}
	return &Verifier{issuer: issuer, key: key, clock: clk}, nil
}

// Verify parses raw and returns its claims if it is a token this controller issued and it has
// not expired. Errors wrap ErrExpired or ErrInvalid.
func (v *Verifier) Verify(raw string) (Claims, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{Algorithm})
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var c jwt.Claims
	if err := tok.Claims(v.key, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: signature: %v", ErrInvalid, err)
	}
	if c.Expiry == nil {
		return Claims{}, fmt.Errorf("%w: no exp claim", ErrInvalid)
	}
	err = c.ValidateWithLeeway(jwt.Expected{Issuer: v.issuer, AnyAudience: jwt.Audience{Audience}, Time: v.clock.Now()}, Leeway)
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return Claims{}, fmt.Errorf("%w (expired at %s)", ErrExpired, c.Expiry.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return Claims{}, fmt.Errorf("%w: issuer %q, want %q", ErrInvalid, c.Issuer, v.issuer)
	case errors.Is(err, jwt.ErrInvalidAudience):
		return Claims{}, fmt.Errorf("%w: audience %q, want %q", ErrInvalid, []string(c.Audience), Audience)
	case err != nil:
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	sub, err := ParseSubject(c.Subject)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	claims := Claims{Subject: sub, ExpiresAt: c.Expiry.Time()}
	if c.IssuedAt != nil {
		claims.IssuedAt = c.IssuedAt.Time()
	}
	return claims, nil
}

func checkCurve(key *ecdsa.PrivateKey) error {
	if key == nil || key.Curve != elliptic.P256() {
		return errors.New("token signing key must be a P-256 (ES256) private key")
	}
	return nil
}
