package routertoken

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestLoadKeyFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string
		want    string
		wantErr bool
	}{
		{"trailing newline dropped", strings.Repeat("k", 40) + "\n", strings.Repeat("k", 40), false},
		{"as is", strings.Repeat("k", 32), strings.Repeat("k", 32), false},
		{"too short", "short\n", "", true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, string(rune('a'+i)))
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadKeyFile(path)
			if (err != nil) != tt.wantErr || string(got) != tt.want {
				t.Fatalf("LoadKeyFile = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadKeyFile of a missing file succeeded")
	}
}

func TestLoadOrCreateKeySecret(t *testing.T) {
	ctx := context.Background()
	existing := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "js", Name: KeySecretName},
		Data:       map[string][]byte{KeySecretKey: []byte(strings.Repeat("s", 48))},
	}
	short := existing.DeepCopy()
	short.Data[KeySecretKey] = []byte("short")
	tests := []struct {
		name    string
		objects []client.Object
		want    string
		wantErr bool
	}{
		{"created when missing", nil, "", false},
		{"existing is read", []client.Object{existing}, strings.Repeat("s", 48), false},
		{"existing too short", []client.Object{short}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(tt.objects...).Build()
			got, err := LoadOrCreateKeySecret(ctx, c, c, "js")
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if tt.want != "" && string(got) != tt.want {
				t.Errorf("key = %q, want %q", got, tt.want)
			}
			// A second call (another replica) reads the same key.
			again, err := LoadOrCreateKeySecret(ctx, c, c, "js")
			if err != nil || string(again) != string(got) {
				t.Errorf("second load = %q, %v; want %q", again, err, got)
			}
			if _, err := NewSigner(got, nil); err == nil {
				t.Error("NewSigner accepted a nil clock")
			}
		})
	}
}

func TestGenerateKeyIsUsable(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(k) < 64 || strings.ContainsAny(string(k), "\n=+/") {
		t.Errorf("generated key %q: want at least 64 url-safe characters", k)
	}
}
