package routertoken

import (
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

const (
	// Issuer is the iss claim of router tokens (reference value).
	Issuer = "https://jumpstarter.dev/stream"
	// Audience is the only aud claim of router tokens (reference value).
	Audience = "https://jumpstarter.dev/router"
	// Lifetime is the longest a router token is valid; a lease that ends sooner cuts it short.
	Lifetime = 30 * time.Minute
	// Leeway is the clock skew between controller and router tolerated on nbf, iat and exp.
	// Small, because exp is the lease's end.
	Leeway = 10 * time.Second
)

// Algorithm is the signature algorithm of minted tokens.
const Algorithm = jose.HS256

// acceptedAlgorithms are those a router accepts, as the reference router does.
var acceptedAlgorithms = []jose.SignatureAlgorithm{jose.HS256, jose.HS384, jose.HS512}

// Errors a caller can tell apart with errors.Is. A router answers all of them with
// UNAUTHENTICATED; the distinction is for its logs and metrics.
var (
	ErrExpired       = errors.New("router token is expired")
	ErrWrongAudience = errors.New("router token is not for a router")
	ErrInvalid       = errors.New("invalid router token")
	// ErrLeaseEnded is returned by Mint for a lease whose end has passed.
	ErrLeaseEnded = errors.New("lease has ended")
)

// LeaseRef names the lease a token was minted for. UID distinguishes it from an earlier or
// later lease of the same name.
type LeaseRef struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	UID       types.UID `json:"uid"`
}

func (l LeaseRef) validate() error {
	switch {
	case l.Namespace == "":
		return errors.New("lease namespace is empty")
	case l.Name == "":
		return errors.New("lease name is empty")
	case l.UID == "":
		return errors.New("lease UID is empty")
	}
	return nil
}

// String is namespace/name, as klog.KObj prints objects.
func (l LeaseRef) String() string { return l.Namespace + "/" + l.Name }

// Claims are the claims of a router token. Times are in UTC.
type Claims struct {
	// StreamID is the sub claim: the key under which the router pairs the two streams.
	StreamID string
	Lease    LeaseRef
	// ID is the jti claim, unique per token.
	ID        string
	IssuedAt  time.Time
	NotBefore time.Time
	ExpiresAt time.Time
}

// privateClaims are the claims beyond the registered ones.
type privateClaims struct {
	Lease *LeaseRef `json:"lease,omitempty"`
}

// Signer mints router tokens.
type Signer struct {
	signer jose.Signer
	clock  clock.PassiveClock
}

// NewSigner signs with the shared key.
func NewSigner(key []byte, clk clock.PassiveClock) (*Signer, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if clk == nil {
		return nil, errors.New("router token signer: clock is nil")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: Algorithm, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("create router token signer: %w", err)
	}
	return &Signer{signer: signer, clock: clk}, nil
}

// Mint signs a token for a new stream on lease, which ends at leaseEnd (zero: unknown). The
// token expires after Lifetime or at leaseEnd, whichever is first; a lease that has ended
// gets no token (ErrLeaseEnded).
func (s *Signer) Mint(lease LeaseRef, leaseEnd time.Time) (string, Claims, error) {
	if err := lease.validate(); err != nil {
		return "", Claims{}, fmt.Errorf("mint router token: %w", err)
	}
	// JWT times have second precision; truncate so that the returned claims equal the
	// token's, and so that exp never passes the lease's end.
	now := s.clock.Now().UTC().Truncate(time.Second)
	exp := now.Add(Lifetime)
	if !leaseEnd.IsZero() && leaseEnd.Before(exp) {
		exp = leaseEnd.UTC().Truncate(time.Second)
	}
	if !exp.After(now) {
		return "", Claims{}, fmt.Errorf("mint router token for lease %s: %w", lease, ErrLeaseEnded)
	}
	claims := Claims{
		StreamID:  uuid.NewString(),
		Lease:     lease,
		ID:        uuid.NewString(),
		IssuedAt:  now,
		NotBefore: now,
		ExpiresAt: exp,
	}
	raw, err := jwt.Signed(s.signer).Claims(jwt.Claims{
		Issuer:    Issuer,
		Subject:   claims.StreamID,
		ID:        claims.ID,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(exp),
	}).Claims(map[string]any{
		// An array like the reference's; jwt.Audience would write a single audience as a string.
		"aud": []string{Audience},
	}).Claims(privateClaims{Lease: &lease}).Serialize()
	if err != nil {
		return "", Claims{}, fmt.Errorf("sign router token for lease %s: %w", lease, err)
	}
	return raw, claims, nil
}

// Verifier checks router tokens: algorithm, signature, issuer, audience, times, and that the
// stream id and the lease are present.
type Verifier struct {
	key   []byte
	clock clock.PassiveClock
}

// NewVerifier accepts tokens signed with the shared key.
func NewVerifier(key []byte, clk clock.PassiveClock) (*Verifier, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if clk == nil {
		return nil, errors.New("router token verifier: clock is nil")
	}
	return &Verifier{key: key, clock: clk}, nil
}

// Verify parses raw and returns its claims if it is a router token signed with the shared key
// and valid now. Errors wrap ErrExpired, ErrWrongAudience or ErrInvalid.
func (v *Verifier) Verify(raw string) (Claims, error) {
	tok, err := jwt.ParseSigned(raw, acceptedAlgorithms)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var std jwt.Claims
	var priv privateClaims
	if err := tok.Claims(v.key, &std, &priv); err != nil {
		return Claims{}, fmt.Errorf("%w: signature: %v", ErrInvalid, err)
	}
	if std.Expiry == nil {
		return Claims{}, fmt.Errorf("%w: no exp claim", ErrInvalid)
	}
	err = std.ValidateWithLeeway(jwt.Expected{Issuer: Issuer, AnyAudience: jwt.Audience{Audience}, Time: v.clock.Now()}, Leeway)
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return Claims{}, fmt.Errorf("%w (expired at %s)", ErrExpired, std.Expiry.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrInvalidAudience):
		return Claims{}, fmt.Errorf("%w: audience %q, want %q", ErrWrongAudience, []string(std.Audience), Audience)
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return Claims{}, fmt.Errorf("%w: issuer %q, want %q", ErrInvalid, std.Issuer, Issuer)
	case err != nil:
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := uuid.Parse(std.Subject); err != nil {
		return Claims{}, fmt.Errorf("%w: sub is not a stream id: %v", ErrInvalid, err)
	}
	if priv.Lease == nil {
		return Claims{}, fmt.Errorf("%w: no lease claim", ErrInvalid)
	}
	if err := priv.Lease.validate(); err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	claims := Claims{StreamID: std.Subject, Lease: *priv.Lease, ID: std.ID, ExpiresAt: std.Expiry.Time().UTC()}
	if std.IssuedAt != nil {
		claims.IssuedAt = std.IssuedAt.Time().UTC()
	}
	if std.NotBefore != nil {
		claims.NotBefore = std.NotBefore.Time().UTC()
	}
	return claims, nil
}
