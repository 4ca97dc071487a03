package clientsvc

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	corev1 "k8s.io/api/core/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"jumpstarter.dev/service/pkg/auth/token"
	"jumpstarter.dev/service/pkg/credentials"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
)

func TestRotateToken(t *testing.T) {
	h := newHarness(t)
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
	h.srv.Tokens = &credentials.Store{Client: h.client, Issuer: issuer, Verifier: verifier, Clock: clock}

	resp, err := h.srv.RotateToken(alice, &clientv1.RotateTokenRequest{Parent: "namespaces/lab"})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := verifier.Verify(resp.Token)
	if err != nil {
		t.Fatal(err)
	}
	want := token.Subject{Kind: token.KindClient, Namespace: "lab", Name: "alice", UID: "uid-client-alice"}
	if claims.Subject != want || !resp.Expiry.AsTime().Equal(claims.ExpiresAt) || !claims.ExpiresAt.Equal(now.Add(token.DefaultLifetime)) {
		t.Errorf("token for %v expiring %v (response expiry %v)", claims.Subject, claims.ExpiresAt, resp.Expiry.AsTime())
	}
	secret := &corev1.Secret{}
	if err := h.client.Get(context.Background(), client.ObjectKey{Namespace: "lab", Name: "alice-client"}, secret); err != nil {
		t.Fatal(err)
	}
	if string(secret.Data[credentials.KeyToken]) != resp.Token {
		t.Error("the stored credential is not the returned token")
	}

	second, err := h.srv.RotateToken(alice, &clientv1.RotateTokenRequest{Parent: "namespaces/lab"})
	if err != nil {
		t.Fatal(err)
	}
	if second.Token == resp.Token {
		t.Error("a second rotation returned the same token")
	}

	_, err = h.srv.RotateToken(alice, &clientv1.RotateTokenRequest{Parent: "namespaces/other"})
	wantStatus(t, err, codes.PermissionDenied, "namespace mismatch")
	_, err = h.srv.RotateToken(alice, &clientv1.RotateTokenRequest{Parent: "lab"})
	wantStatus(t, err, codes.InvalidArgument, "parent")
	_, err = h.srv.RotateToken(as("lab", "ghost"), &clientv1.RotateTokenRequest{Parent: "namespaces/lab"})
	wantStatus(t, err, codes.NotFound, `client "lab/ghost" not found`)

	h.srv.Tokens = nil
	_, err = h.srv.RotateToken(alice, &clientv1.RotateTokenRequest{Parent: "namespaces/lab"})
	wantStatus(t, err, codes.Unimplemented)
}
