package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/token"
	"jumpstarter.dev/service/pkg/credentials"
)

// labControllerNamespace is where the lab's controller keeps its signing key: the lab passes
// no --namespace, so the controller falls back to its leader election namespace.
const labControllerNamespace = "kube-system"

func TestCredentials(t *testing.T) {
	f := features.New("credentials").
		Assess("a client gets a token the controller accepts; rotation revokes it; deletion removes it", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "creds")
			auth := labAuthenticator(ctx, t)

			alice := &jumpstarterv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "alice"}}
			if err := shared.client.Create(ctx, alice); err != nil {
				t.Fatalf("create client: %v", err)
			}
			waitFor(ctx, t, "client status", func(ctx context.Context) (bool, error) {
				err := shared.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "alice"}, alice)
				return alice.Status.Credential != nil && alice.Status.TokenExpiresAt != nil, err
			})
			if alice.Status.Credential.Name != "alice-client" {
				t.Errorf("status.credential %+v", alice.Status.Credential)
			}
			secret := credentialSecret(ctx, t, ns, "alice-client")
			if refs := secret.OwnerReferences; len(refs) != 1 || refs[0].UID != alice.UID {
				t.Errorf("owner references %+v, want the client", refs)
			}
			first := string(secret.Data[credentials.KeyToken])
			claims, err := auth.Authenticate(ctx, first)
			if err != nil {
				t.Fatalf("the controller's token is refused: %v", err)
			}
			if want := (token.Subject{Kind: token.KindClient, Namespace: ns, Name: "alice", UID: alice.UID}); claims.Subject != want {
				t.Errorf("subject %s, want %s", claims.Subject, want)
			}
			if !claims.ExpiresAt.Equal(alice.Status.TokenExpiresAt.Time) {
				t.Errorf("status.tokenExpiresAt %s, token exp %s", alice.Status.TokenExpiresAt, claims.ExpiresAt)
			}

			alice.Annotations = map[string]string{jumpstarterv1alpha1.AnnotationRotateToken: "1"}
			if err := shared.client.Update(ctx, alice); err != nil {
				t.Fatalf("annotate client: %v", err)
			}
			var second string
			waitFor(ctx, t, "rotated token", func(ctx context.Context) (bool, error) {
				second = string(credentialSecret(ctx, t, ns, "alice-client").Data[credentials.KeyToken])
				return second != first, nil
			})
			if _, err := auth.Authenticate(ctx, second); err != nil {
				t.Errorf("rotated token refused: %v", err)
			}
			if _, err := auth.Authenticate(ctx, first); !errors.Is(err, credentials.ErrRevoked) {
				t.Errorf("old token after rotation: %v, want revoked", err)
			}

			if err := shared.client.Delete(ctx, alice); err != nil {
				t.Fatalf("delete client: %v", err)
			}
			waitFor(ctx, t, "secret garbage collected", func(ctx context.Context) (bool, error) {
				err := shared.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "alice-client"}, &corev1.Secret{})
				return apierrors.IsNotFound(err), client404(err)
			})
			if _, err := auth.Authenticate(ctx, second); !errors.Is(err, credentials.ErrRevoked) {
				t.Errorf("token of a deleted client: %v, want revoked", err)
			}
			return ctx
		}).
		Assess("an exporter gets its credential", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "creds")
			createExporter(ctx, t, ns, "board", rpi4, true, true)
			exporter := &jumpstarterv1alpha1.Exporter{}
			waitFor(ctx, t, "exporter status", func(ctx context.Context) (bool, error) {
				err := shared.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "board"}, exporter)
				return exporter.Status.Credential != nil, err
			})
			raw := string(credentialSecret(ctx, t, ns, "board-exporter").Data[credentials.KeyToken])
			if claims, err := labAuthenticator(ctx, t).Authenticate(ctx, raw); err != nil || claims.Subject.Kind != token.KindExporter {
				t.Errorf("exporter token: %+v, %v", claims, err)
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// labAuthenticator verifies tokens as the controller does, with the lab controller's key.
func labAuthenticator(ctx context.Context, t *testing.T) *credentials.Authenticator {
	t.Helper()
	keySecret := &corev1.Secret{}
	if err := shared.client.Get(ctx, types.NamespacedName{Namespace: labControllerNamespace, Name: token.SigningKeySecretName}, keySecret); err != nil {
		t.Fatalf("the controller's signing key: %v", err)
	}
	key, err := token.ParsePrivateKeyPEM(keySecret.Data[token.SigningKeySecretKey])
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := token.NewVerifier(&key.PublicKey, "", clock.RealClock{})
	if err != nil {
		t.Fatal(err)
	}
	return &credentials.Authenticator{Verifier: verifier, Reader: shared.client}
}

func credentialSecret(ctx context.Context, t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	secret := &corev1.Secret{}
	waitFor(ctx, t, "secret "+name, func(ctx context.Context) (bool, error) {
		err := shared.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, secret)
		return err == nil, client404(err)
	})
	if secret.Labels[jumpstarterv1alpha1.LabelCredential] != "true" {
		t.Errorf("secret %s/%s labels %v", ns, name, secret.Labels)
	}
	return secret
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func(context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, waitTimeout, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		return ok, client404(err)
	}); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
