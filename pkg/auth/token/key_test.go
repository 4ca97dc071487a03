package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

func pemOf(t *testing.T, typ string, der []byte) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestParsePrivateKeyPEM(t *testing.T) {
	key := mustKey(t)
	sec1, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalECPrivateKey(p384)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaDER, _ := x509.MarshalPKCS8PrivateKey(rsaKey)

	tests := []struct {
		name    string
		data    []byte
		wantErr bool
	}{
		{"SEC 1", pemOf(t, "EC PRIVATE KEY", sec1), false},
		{"PKCS 8", pemOf(t, "PRIVATE KEY", pkcs8), false},
		{"after EC PARAMETERS", append(pemOf(t, "EC PARAMETERS", []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}), pemOf(t, "EC PRIVATE KEY", sec1)...), false},
		{"P-384", pemOf(t, "EC PRIVATE KEY", p384DER), true},
		{"RSA", pemOf(t, "PRIVATE KEY", rsaDER), true},
		{"corrupt", pemOf(t, "EC PRIVATE KEY", []byte("nope")), true},
		{"not PEM", []byte("hello"), true},
		{"empty", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePrivateKeyPEM(tt.data)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && !got.Equal(key) {
				t.Error("parsed a different key")
			}
		})
	}
}

func TestLoadKeyFile(t *testing.T) {
	key := mustKey(t)
	data, err := MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadKeyFile(path)
	if err != nil || !got.Equal(key) {
		t.Fatalf("LoadKeyFile = %v, %v", got, err)
	}
	if _, err := LoadKeyFile(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Error("LoadKeyFile of a missing file succeeded")
	}
}

func newFakeClient(t *testing.T, funcs interceptor.Funcs, objs ...client.Object) client.WithWatch {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return interceptor.NewClient(fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build(), funcs)
}

func keySecret(t *testing.T, key *ecdsa.PrivateKey) *corev1.Secret {
	t.Helper()
	data, err := MarshalPrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "jumpstarter-system", Name: SigningKeySecretName},
		Data:       map[string][]byte{SigningKeySecretKey: data},
	}
}

func TestLoadOrCreateKeySecret(t *testing.T) {
	ctx := context.Background()
	const ns = "jumpstarter-system"

	t.Run("creates once, then reads", func(t *testing.T) {
		c := newFakeClient(t, interceptor.Funcs{})
		first, err := LoadOrCreateKeySecret(ctx, c, c, ns)
		if err != nil {
			t.Fatal(err)
		}
		second, err := LoadOrCreateKeySecret(ctx, c, c, ns)
		if err != nil {
			t.Fatal(err)
		}
		if !first.Equal(second) {
			t.Error("second load returned a different key")
		}
	})

	t.Run("loses the create race", func(t *testing.T) {
		winner := mustKey(t)
		// The Get misses, and another replica creates the Secret before our Create lands.
		c := newFakeClient(t, interceptor.Funcs{
			Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				if err := c.Create(ctx, keySecret(t, winner)); err != nil {
					return err
				}
				return c.Create(ctx, obj, opts...)
			},
		})
		got, err := LoadOrCreateKeySecret(ctx, c, c, ns)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(winner) {
			t.Error("did not adopt the winner's key")
		}
	})

	t.Run("corrupt secret", func(t *testing.T) {
		bad := keySecret(t, mustKey(t))
		bad.Data[SigningKeySecretKey] = []byte("garbage")
		c := newFakeClient(t, interceptor.Funcs{}, bad)
		if _, err := LoadOrCreateKeySecret(ctx, c, c, ns); err == nil {
			t.Error("accepted a corrupt key secret")
		}
		// And it was not overwritten.
		got := &corev1.Secret{}
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: SigningKeySecretName}, got); err != nil || string(got.Data[SigningKeySecretKey]) != "garbage" {
			t.Errorf("secret changed: %v %q", err, got.Data[SigningKeySecretKey])
		}
	})
}
