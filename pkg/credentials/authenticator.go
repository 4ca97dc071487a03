package credentials

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"jumpstarter.dev/service/pkg/auth/token"
)

// ErrRevoked: the token is a valid JWT but no longer the credential of its object (rotated,
// replaced, or the object is gone or was re-created).
var ErrRevoked = errors.New("token has been revoked")

// Authenticator accepts the tokens that are the current credential of an existing object.
type Authenticator struct {
	Verifier *token.Verifier
	// Reader reads Clients, Exporters and credential Secrets; the manager's cache serves it.
	Reader client.Reader
	// APIReader, if set, reads the credential Secret again, uncached, when the cached one
	// does not hold the token: a token issued or rotated a moment ago may not be in the cache
	// yet. Only tokens that are validly signed for an existing object get this far.
	APIReader client.Reader
}

// Authenticate verifies raw as a JWT and then against the store: the token's object must
// exist with the token's UID, and its credential Secret must hold this token (or, after a
// renewal, hold it as the previous token). Errors wrap token.ErrExpired, token.ErrInvalid or
// ErrRevoked; an expired token's error says "token is expired".
func (a *Authenticator) Authenticate(ctx context.Context, raw string) (token.Claims, error) {
	claims, err := a.Verifier.Verify(raw)
	if err != nil {
		return token.Claims{}, err
	}
	sub := claims.Subject
	key := types.NamespacedName{Namespace: sub.Namespace, Name: sub.Name}
	obj, err := NewObject(sub.Kind)
	if err != nil {
		return token.Claims{}, fmt.Errorf("%w: %v", token.ErrInvalid, err)
	}
	if err := a.Reader.Get(ctx, key, obj); apierrors.IsNotFound(err) {
		return token.Claims{}, fmt.Errorf("%w: %s %s no longer exists", ErrRevoked, sub.Kind, key)
	} else if err != nil {
		return token.Claims{}, fmt.Errorf("look up %s %s: %w", sub.Kind, key, err)
	}
	if obj.GetUID() != sub.UID {
		return token.Claims{}, fmt.Errorf("%w: it was issued to an earlier %s %s", ErrRevoked, sub.Kind, key)
	}
	err = a.stored(ctx, a.Reader, sub, raw)
	if errors.Is(err, ErrRevoked) && a.APIReader != nil {
		err = a.stored(ctx, a.APIReader, sub, raw)
	}
	if err != nil {
		return token.Claims{}, err
	}
	return claims, nil
}

// stored checks that raw is the token (or the previous token) in the credential Secret of sub.
func (a *Authenticator) stored(ctx context.Context, reader client.Reader, sub token.Subject, raw string) error {
	key := types.NamespacedName{Namespace: sub.Namespace, Name: SecretName(sub.Kind, sub.Name)}
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, key, secret); apierrors.IsNotFound(err) {
		return fmt.Errorf("%w: %s %s/%s has no stored credential", ErrRevoked, sub.Kind, sub.Namespace, sub.Name)
	} else if err != nil {
		return fmt.Errorf("look up credential of %s %s/%s: %w", sub.Kind, sub.Namespace, sub.Name, err)
	}
	if !equal(raw, secret.Data[KeyToken]) && !equal(raw, secret.Data[KeyPreviousToken]) {
		return fmt.Errorf("%w: it was replaced by a newer token of %s %s/%s", ErrRevoked, sub.Kind, sub.Namespace, sub.Name)
	}
	return nil
}

func equal(raw string, stored []byte) bool {
	return len(stored) > 0 && subtle.ConstantTimeCompare([]byte(raw), stored) == 1
}
