package credentials

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/token"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

const endpoint = "grpc.jumpstarter.example:443"

type harness struct {
	t      *testing.T
	ctx    context.Context
	client client.Client
	clock  *clocktesting.FakeClock
	key    *ecdsa.PrivateKey
	store  *Store
	auth   *Authenticator
}

func newHarness(t *testing.T, objs ...client.Object) *harness {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := jumpstarterv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&jumpstarterv1alpha1.Client{}, &jumpstarterv1alpha1.Exporter{}).Build()
	clock := clocktesting.NewFakeClock(now)
	key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := token.NewIssuer(key, "", 0, clock)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := token.NewVerifier(&key.PublicKey, "", clock)
	if err != nil {
		t.Fatal(err)
	}
	store := &Store{Client: c, Issuer: issuer, Verifier: verifier, Clock: clock}
	return &harness{t: t, ctx: context.Background(), client: c, clock: clock, key: key, store: store,
		auth: &Authenticator{Verifier: verifier, Reader: c}}
}

func newClient(name string, uid types.UID) *jumpstarterv1alpha1.Client {
	return &jumpstarterv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: name, UID: uid}}
}

func newExporter(name string, uid types.UID) *jumpstarterv1alpha1.Exporter {
	return &jumpstarterv1alpha1.Exporter{ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: name, UID: uid}}
}

func (h *harness) reconcile(kind token.Kind, name string) reconcile.Result {
	h.t.Helper()
	r := &Reconciler{Kind: kind, Store: h.store, Endpoint: endpoint}
	res, err := r.Reconcile(h.ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "lab", Name: name}})
	if err != nil {
		h.t.Fatalf("reconcile %s %s: %v", kind, name, err)
	}
	return res
}

func (h *harness) secret(name string) *corev1.Secret {
	h.t.Helper()
	s := &corev1.Secret{}
	if err := h.client.Get(h.ctx, types.NamespacedName{Namespace: "lab", Name: name}, s); err != nil {
		h.t.Fatalf("get secret %s: %v", name, err)
	}
	return s
}

func (h *harness) token(name string) string {
	h.t.Helper()
	return string(h.secret(name).Data[KeyToken])
}

func (h *harness) getClient(name string) *jumpstarterv1alpha1.Client {
	h.t.Helper()
	c := &jumpstarterv1alpha1.Client{}
	if err := h.client.Get(h.ctx, types.NamespacedName{Namespace: "lab", Name: name}, c); err != nil {
		h.t.Fatalf("get client %s: %v", name, err)
	}
	return c
}

func (h *harness) annotate(obj client.Object, value string) {
	h.t.Helper()
	if err := h.client.Get(h.ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		h.t.Fatal(err)
	}
	obj.SetAnnotations(map[string]string{jumpstarterv1alpha1.AnnotationRotateToken: value})
	if err := h.client.Update(h.ctx, obj); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) wantAccepted(raw string, sub token.Subject) {
	h.t.Helper()
	claims, err := h.auth.Authenticate(h.ctx, raw)
	if err != nil {
		h.t.Fatalf("Authenticate: %v", err)
	}
	if claims.Subject != sub {
		h.t.Errorf("Authenticate subject %s, want %s", claims.Subject, sub)
	}
}

func (h *harness) wantRejected(raw string, want error, text string) {
	h.t.Helper()
	_, err := h.auth.Authenticate(h.ctx, raw)
	if !errors.Is(err, want) || !strings.Contains(err.Error(), text) {
		h.t.Errorf("Authenticate error %v, want %v mentioning %q", err, want, text)
	}
}

func TestIssueOnCreate(t *testing.T) {
	tests := []struct {
		name   string
		obj    client.Object
		kind   token.Kind
		secret string
		owner  string
	}{
		{"client", newClient("alice", "u1"), token.KindClient, "alice-client", "Client"},
		{"exporter", newExporter("board", "u1"), token.KindExporter, "board-exporter", "Exporter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.obj)
			res := h.reconcile(tt.kind, tt.obj.GetName())
			if want := token.DefaultLifetime - RenewBefore; res.RequeueAfter != want {
				t.Errorf("RequeueAfter %s, want %s (renewal time)", res.RequeueAfter, want)
			}

			secret := h.secret(tt.secret)
			if secret.Labels[jumpstarterv1alpha1.LabelCredential] != "true" || secret.Labels[jumpstarterv1alpha1.LabelCredentialKind] != string(tt.kind) {
				t.Errorf("labels %v", secret.Labels)
			}
			refs := secret.OwnerReferences
			if len(refs) != 1 || refs[0].Kind != tt.owner || refs[0].APIVersion != jumpstarterv1alpha1.GroupVersion.String() ||
				refs[0].Name != tt.obj.GetName() || refs[0].UID != "u1" || refs[0].Controller == nil || !*refs[0].Controller {
				t.Errorf("owner references %+v", refs)
			}
			raw := string(secret.Data[KeyToken])
			h.wantAccepted(raw, token.Subject{Kind: tt.kind, Namespace: "lab", Name: tt.obj.GetName(), UID: "u1"})

			if err := h.client.Get(h.ctx, client.ObjectKeyFromObject(tt.obj), tt.obj); err != nil {
				t.Fatal(err)
			}
			switch o := tt.obj.(type) {
			case *jumpstarterv1alpha1.Client:
				if o.Status.Credential == nil || o.Status.Credential.Name != tt.secret || o.Status.Endpoint != endpoint ||
					o.Status.TokenExpiresAt == nil || !o.Status.TokenExpiresAt.Equal(&metav1.Time{Time: now.Add(token.DefaultLifetime)}) {
					t.Errorf("client status %+v", o.Status)
				}
			case *jumpstarterv1alpha1.Exporter:
				if o.Status.Credential == nil || o.Status.Credential.Name != tt.secret || o.Status.Endpoint != endpoint {
					t.Errorf("exporter status %+v", o.Status)
				}
			}

			// Level-based: a second pass changes nothing.
			rv := secret.ResourceVersion
			objRV := tt.obj.GetResourceVersion()
			h.reconcile(tt.kind, tt.obj.GetName())
			if got := h.secret(tt.secret); got.ResourceVersion != rv || string(got.Data[KeyToken]) != raw {
				t.Error("second reconcile rewrote the secret")
			}
			if err := h.client.Get(h.ctx, client.ObjectKeyFromObject(tt.obj), tt.obj); err != nil || tt.obj.GetResourceVersion() != objRV {
				t.Errorf("second reconcile rewrote the status (%v)", err)
			}
		})
	}
}

func TestReissue(t *testing.T) {
	otherKey, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	foreignIssuer, err := token.NewIssuer(otherKey, "", 0, clocktesting.NewFakeClock(now))
	if err != nil {
		t.Fatal(err)
	}
	foreign, _, err := foreignIssuer.Issue(token.Subject{Kind: token.KindClient, Namespace: "lab", Name: "alice", UID: "u2"})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		// stored returns the token to put in the Secret before the reconcile.
		stored  func(h *harness) string
		oldErr  error
		oldText string
	}{
		{
			name: "issued to an earlier object of the same name",
			stored: func(h *harness) string {
				raw, _, err := h.store.Issuer.Issue(token.Subject{Kind: token.KindClient, Namespace: "lab", Name: "alice", UID: "u1"})
				if err != nil {
					t.Fatal(err)
				}
				return raw
			},
			oldErr: ErrRevoked, oldText: "earlier client",
		},
		{
			name:   "signed by another key",
			stored: func(*harness) string { return foreign },
			oldErr: token.ErrInvalid, oldText: "signature",
		},
		{
			name:   "garbage",
			stored: func(*harness) string { return "garbage" },
			oldErr: token.ErrInvalid,
		},
		{
			name: "expired",
			stored: func(h *harness) string {
				h.clock.SetTime(now.Add(-token.DefaultLifetime - time.Hour))
				defer h.clock.SetTime(now)
				raw, _, err := h.store.Issuer.Issue(token.Subject{Kind: token.KindClient, Namespace: "lab", Name: "alice", UID: "u2"})
				if err != nil {
					t.Fatal(err)
				}
				return raw
			},
			oldErr: token.ErrExpired, oldText: "token is expired",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The Secret is left over from an object "u1"; the Client now is "u2".
			secret := &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "alice-client",
					Labels:          map[string]string{jumpstarterv1alpha1.LabelCredential: "true"},
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "jumpstarter.dev/v1alpha1", Kind: "Client", Name: "alice", UID: "u1"}}},
			}
			h := newHarness(t, newClient("alice", "u2"), secret)
			old := tt.stored(h)
			secret = h.secret("alice-client")
			secret.Data = map[string][]byte{KeyToken: []byte(old)}
			if err := h.client.Update(h.ctx, secret); err != nil {
				t.Fatal(err)
			}

			h.reconcile(token.KindClient, "alice")
			got := h.secret("alice-client")
			if raw := string(got.Data[KeyToken]); raw == old {
				t.Fatal("token not re-issued")
			} else {
				h.wantAccepted(raw, token.Subject{Kind: token.KindClient, Namespace: "lab", Name: "alice", UID: "u2"})
			}
			if _, ok := got.Data[KeyPreviousToken]; ok {
				t.Error("kept a token that was not merely due for renewal")
			}
			if refs := got.OwnerReferences; len(refs) != 1 || refs[0].UID != "u2" {
				t.Errorf("owner references %+v, want the new client only", refs)
			}
			h.wantRejected(old, tt.oldErr, tt.oldText)
		})
	}
}

func TestRotationByAnnotationRevokesOldToken(t *testing.T) {
	alice := newClient("alice", "u1")
	h := newHarness(t, alice)
	sub := token.Subject{Kind: token.KindClient, Namespace: "lab", Name: "alice", UID: "u1"}
	h.reconcile(token.KindClient, "alice")
	first := h.token("alice-client")
	h.wantAccepted(first, sub)

	h.clock.Step(time.Hour)
	h.annotate(alice, "2026-11-26T13:00:00Z")
	h.reconcile(token.KindClient, "alice")
	second := h.token("alice-client")
	if second == first {
		t.Fatal("rotation did not issue a new token")
	}
	h.wantAccepted(second, sub)
	h.wantRejected(first, ErrRevoked, "replaced")
	if got := h.secret("alice-client").Annotations[AnnotationRotatedToken]; got != "2026-11-26T13:00:00Z" {
		t.Errorf("handled rotation %q not recorded", got)
	}
	if want := now.Add(time.Hour + token.DefaultLifetime); !h.getClient("alice").Status.TokenExpiresAt.Time.Equal(want) {
		t.Errorf("tokenExpiresAt %s, want %s", h.getClient("alice").Status.TokenExpiresAt, want)
	}

	// The same value rotates once.
	h.clock.Step(time.Hour)
	h.reconcile(token.KindClient, "alice")
	if h.token("alice-client") != second {
		t.Error("rotated again for the same annotation value")
	}
	// A new value rotates again.
	h.annotate(alice, "again")
	h.reconcile(token.KindClient, "alice")
	if third := h.token("alice-client"); third == second {
		t.Error("a new annotation value did not rotate")
	} else {
		h.wantRejected(second, ErrRevoked, "replaced")
	}
}

func TestRotationAnnotationAtCreationIsRecorded(t *testing.T) {
	alice := newClient("alice", "u1")
	alice.Annotations = map[string]string{jumpstarterv1alpha1.AnnotationRotateToken: "x"}
	h := newHarness(t, alice)
	h.reconcile(token.KindClient, "alice")
	first := h.token("alice-client")
	h.reconcile(token.KindClient, "alice")
	if h.token("alice-client") != first {
		t.Error("an annotation present at creation rotated the first token")
	}
}

func TestStoreRotate(t *testing.T) {
	for _, existing := range []bool{true, false} {
		t.Run(map[bool]string{true: "existing credential", false: "no credential yet"}[existing], func(t *testing.T) {
			exporter := newExporter("board", "u1")
			h := newHarness(t, exporter)
			var old string
			if existing {
				h.reconcile(token.KindExporter, "board")
				old = h.token("board-exporter")
			}
			h.clock.Step(time.Minute)
			raw, claims, err := h.store.Rotate(h.ctx, exporter)
			if err != nil {
				t.Fatal(err)
			}
			if raw == old || h.token("board-exporter") != raw {
				t.Fatal("Rotate did not store a new token")
			}
			if want := now.Add(time.Minute + token.DefaultLifetime); !claims.ExpiresAt.Equal(want) {
				t.Errorf("expiry %s, want %s", claims.ExpiresAt, want)
			}
			h.wantAccepted(raw, token.Subject{Kind: token.KindExporter, Namespace: "lab", Name: "board", UID: "u1"})
			if existing {
				h.wantRejected(old, ErrRevoked, "replaced")
			}
		})
	}
}

func TestRenewalKeepsPreviousTokenUntilItExpires(t *testing.T) {
	h := newHarness(t, newClient("alice", "u1"))
	sub := token.Subject{Kind: token.KindClient, Namespace: "lab", Name: "alice", UID: "u1"}
	res := h.reconcile(token.KindClient, "alice")
	first := h.token("alice-client")

	h.clock.Step(res.RequeueAfter - time.Hour)
	h.reconcile(token.KindClient, "alice")
	if h.token("alice-client") != first {
		t.Fatal("renewed before the renewal window")
	}

	h.clock.Step(time.Hour)
	res = h.reconcile(token.KindClient, "alice")
	second := h.token("alice-client")
	if second == first {
		t.Fatal("not renewed in the renewal window")
	}
	if string(h.secret("alice-client").Data[KeyPreviousToken]) != first {
		t.Error("previous token not kept")
	}
	h.wantAccepted(first, sub)
	h.wantAccepted(second, sub)
	if want := h.clock.Now().Add(token.DefaultLifetime); !h.getClient("alice").Status.TokenExpiresAt.Time.Equal(want) {
		t.Errorf("tokenExpiresAt %s, want %s", h.getClient("alice").Status.TokenExpiresAt, want)
	}
	if want := token.DefaultLifetime - RenewBefore; res.RequeueAfter != want {
		t.Errorf("RequeueAfter %s, want %s", res.RequeueAfter, want)
	}

	h.clock.Step(RenewBefore + 2*token.Leeway)
	h.wantRejected(first, token.ErrExpired, "token is expired")
	h.wantAccepted(second, sub)
}

func TestShortLifetimeDoesNotLoop(t *testing.T) {
	h := newHarness(t, newClient("alice", "u1"))
	issuer, err := token.NewIssuer(h.key, "", time.Hour, h.clock)
	if err != nil {
		t.Fatal(err)
	}
	h.store.Issuer = issuer
	res := h.reconcile(token.KindClient, "alice")
	if res.RequeueAfter != 30*time.Minute {
		t.Errorf("RequeueAfter %s, want half the lifetime", res.RequeueAfter)
	}
	first := h.token("alice-client")
	h.reconcile(token.KindClient, "alice")
	if h.token("alice-client") != first {
		t.Error("re-issued a fresh token")
	}
}

func TestForeignSecretIsLeftAlone(t *testing.T) {
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "alice-client"}, Data: map[string][]byte{"password": []byte("x")}}
	h := newHarness(t, newClient("alice", "u1"), foreign)
	r := &Reconciler{Kind: token.KindClient, Store: h.store}
	_, err := r.Reconcile(h.ctx, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "lab", Name: "alice"}})
	if err == nil || !strings.Contains(err.Error(), "not a credential") {
		t.Errorf("Reconcile error %v, want a refusal to touch the secret", err)
	}
	if got := h.secret("alice-client"); len(got.Data) != 1 || string(got.Data["password"]) != "x" {
		t.Errorf("foreign secret changed: %v", got.Data)
	}
}

func TestAuthenticateDeletedObject(t *testing.T) {
	alice := newClient("alice", "u1")
	h := newHarness(t, alice)
	h.reconcile(token.KindClient, "alice")
	raw := h.token("alice-client")
	if err := h.client.Delete(h.ctx, alice); err != nil {
		t.Fatal(err)
	}
	h.wantRejected(raw, ErrRevoked, "no longer exists")
}

func TestAuthenticateMissingSecret(t *testing.T) {
	h := newHarness(t, newClient("alice", "u1"))
	h.reconcile(token.KindClient, "alice")
	raw := h.token("alice-client")
	if err := h.client.Delete(h.ctx, h.secret("alice-client")); err != nil {
		t.Fatal(err)
	}
	h.wantRejected(raw, ErrRevoked, "no stored credential")
}

func TestReconcileGoneObject(t *testing.T) {
	h := newHarness(t)
	if res := h.reconcile(token.KindClient, "nobody"); res.RequeueAfter != 0 {
		t.Errorf("requeued a missing object: %+v", res)
	}
}

func TestAuthenticateFallsBackToAPIReaderForFreshTokens(t *testing.T) {
	alice := newClient("alice", "u1")
	h := newHarness(t, alice)
	h.reconcile(token.KindClient, "alice")
	old := h.token("alice-client")
	// A snapshot of the cache before the rotation below.
	stale := fake.NewClientBuilder().WithScheme(h.client.Scheme()).WithObjects(h.getClient("alice"), h.secret("alice-client")).Build()

	h.clock.Step(time.Minute)
	fresh, _, err := h.store.Rotate(h.ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	cacheOnly := &Authenticator{Verifier: h.store.Verifier, Reader: stale}
	if _, err := cacheOnly.Authenticate(h.ctx, fresh); !errors.Is(err, ErrRevoked) {
		t.Fatalf("stale cache alone: %v, want ErrRevoked", err)
	}
	withAPI := &Authenticator{Verifier: h.store.Verifier, Reader: stale, APIReader: h.client}
	if _, err := withAPI.Authenticate(h.ctx, fresh); err != nil {
		t.Errorf("with API reader: %v", err)
	}
	// The other way round is the (watch-latency) window a rotation takes to revoke: the stale
	// cache still holds the old token. Once the cache has caught up, it is refused.
	caughtUp := &Authenticator{Verifier: h.store.Verifier, Reader: h.client, APIReader: h.client}
	if _, err := caughtUp.Authenticate(h.ctx, old); !errors.Is(err, ErrRevoked) {
		t.Errorf("old token: %v, want ErrRevoked", err)
	}
}
