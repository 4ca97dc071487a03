package credentials

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/token"
)

// RenewBefore is how long before its expiry a token is renewed. With lifetimes shorter than
// twice this, renewal starts at half the lifetime.
const RenewBefore = 30 * 24 * time.Hour

// Store reads, issues and stores the credentials of Clients and Exporters. The reconciler and
// the RotateToken RPC share it.
type Store struct {
	// Client reads credential Secrets (through the cache) and writes them.
	Client   client.Client
	Issuer   *token.Issuer
	Verifier *token.Verifier
	Clock    clock.PassiveClock
}

// renewWindow is how long before expiry the store renews a token.
func (s *Store) renewWindow() time.Duration {
	return min(RenewBefore, s.Issuer.Lifetime()/2)
}

// Rotate issues a fresh token for obj (a Client or Exporter that exists) and stores it in
// place of the current one (and of a previous one kept by a renewal). The Authenticator stops
// accepting those as soon as its cache sees the new Secret. It returns the new token and its
// claims; the reconciler then updates the object's status.
func (s *Store) Rotate(ctx context.Context, obj client.Object) (string, token.Claims, error) {
	kind, err := KindOf(obj)
	if err != nil {
		return "", token.Claims{}, err
	}
	var raw string
	var claims token.Claims
	// A stale cache shows up as a conflict on update, or as AlreadyExists on create.
	retriable := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	err = retry.OnError(retry.DefaultBackoff, retriable, func() error {
		var err error
		raw, claims, _, err = s.ensure(ctx, kind, obj, true)
		return err
	})
	if err != nil {
		return "", token.Claims{}, fmt.Errorf("rotate token of %s %s: %w", kind, klog.KObj(obj), err)
	}
	return raw, claims, nil
}

// ensure makes the credential Secret of obj hold a valid token for it and returns that token,
// its claims and the Secret's name. force issues a new token whatever the current one is.
func (s *Store) ensure(ctx context.Context, kind token.Kind, obj client.Object, force bool) (string, token.Claims, string, error) {
	logger := klog.FromContext(ctx)
	name := SecretName(kind, obj.GetName())
	key := types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}
	sub := subjectOf(kind, obj)
	rotate := obj.GetAnnotations()[jumpstarterv1alpha1.AnnotationRotateToken]

	secret := &corev1.Secret{}
	exists := true
	if err := s.Client.Get(ctx, key, secret); apierrors.IsNotFound(err) {
		exists = false
	} else if err != nil {
		return "", token.Claims{}, "", fmt.Errorf("get secret %s: %w", key, err)
	}
	if exists && secret.Labels[jumpstarterv1alpha1.LabelCredential] != "true" {
		return "", token.Claims{}, "", fmt.Errorf("secret %s exists and is not a credential (no %s=true label): rename or delete it",
			key, jumpstarterv1alpha1.LabelCredential)
	}

	current := string(secret.Data[KeyToken])
	reason, keepPrevious := "", false
	switch {
	case !exists:
		reason = "no credential yet"
	case force:
		reason = "rotation requested"
	case rotate != "" && secret.Annotations[AnnotationRotatedToken] != rotate:
		reason = "rotation requested by annotation"
	case current == "":
		reason = "secret has no token"
	default:
		claims, err := s.Verifier.Verify(current)
		switch {
		case err != nil:
			reason = fmt.Sprintf("stored token rejected: %v", err)
		case claims.Subject != sub:
			reason = fmt.Sprintf("stored token is for %s", claims.Subject)
		case !s.Clock.Now().Before(claims.ExpiresAt.Add(-s.renewWindow())):
			reason, keepPrevious = "stored token expires soon", true
		default:
			if syncMetadata(secret, kind, obj, rotate) {
				if err := s.Client.Update(ctx, secret); err != nil {
					return "", token.Claims{}, "", fmt.Errorf("update secret %s: %w", key, err)
				}
			}
			return current, claims, name, nil
		}
	}

	raw, claims, err := s.Issuer.Issue(sub)
	if err != nil {
		return "", token.Claims{}, "", err
	}
	if !exists {
		secret = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}, Type: corev1.SecretTypeOpaque}
	}
	if secret.Data == nil {
		secret.Data = map[string][]byte{}
	}
	delete(secret.Data, KeyPreviousToken)
	if keepPrevious {
		secret.Data[KeyPreviousToken] = []byte(current)
	}
	secret.Data[KeyToken] = []byte(raw)
	syncMetadata(secret, kind, obj, rotate)
	if exists {
		err = s.Client.Update(ctx, secret)
	} else {
		err = s.Client.Create(ctx, secret)
	}
	if apierrors.IsAlreadyExists(err) {
		// Our cache holds labelled Secrets only: either it lags behind, or a Secret of this
		// name that is not a credential is in the way.
		return "", token.Claims{}, "", fmt.Errorf("create secret %s: %w (if it is not a credential, rename or delete it)", key, err)
	}
	if err != nil {
		return "", token.Claims{}, "", fmt.Errorf("store token in secret %s: %w", key, err)
	}
	logger.Info("Issued token", string(kind), klog.KObj(obj), "secret", key.Name, "reason", reason,
		"expiresAt", claims.ExpiresAt.UTC().Format(time.RFC3339))
	return raw, claims, name, nil
}

// syncMetadata gives the Secret its labels, the owner reference to obj (and to nothing else:
// a Secret left over from an earlier object of the same name changes owner) and the handled
// rotation request. It reports whether anything changed.
func syncMetadata(secret *corev1.Secret, kind token.Kind, obj client.Object, rotate string) bool {
	changed := false
	if secret.Labels == nil {
		secret.Labels = map[string]string{}
	}
	for k, v := range map[string]string{
		jumpstarterv1alpha1.LabelCredential:     "true",
		jumpstarterv1alpha1.LabelCredentialKind: string(kind),
	} {
		if secret.Labels[k] != v {
			secret.Labels[k] = v
			changed = true
		}
	}
	owner := metav1.OwnerReference{
		APIVersion: groupVersionKind(kind).GroupVersion().String(), Kind: groupVersionKind(kind).Kind,
		Name: obj.GetName(), UID: obj.GetUID(), Controller: ptr.To(true),
	}
	if refs := secret.OwnerReferences; len(refs) != 1 || refs[0].UID != owner.UID || refs[0].Kind != owner.Kind ||
		refs[0].APIVersion != owner.APIVersion || refs[0].Name != owner.Name || !ptr.Deref(refs[0].Controller, false) {
		secret.OwnerReferences = []metav1.OwnerReference{owner}
		changed = true
	}
	if rotate != "" && secret.Annotations[AnnotationRotatedToken] != rotate {
		if secret.Annotations == nil {
			secret.Annotations = map[string]string{}
		}
		secret.Annotations[AnnotationRotatedToken] = rotate
		changed = true
	}
	return changed
}
