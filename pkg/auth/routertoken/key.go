package routertoken

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"jumpstarter.dev/service/pkg/auth/keysecret"
)

const (
	// KeySecretName is the Secret in the controller's namespace that holds the shared key when
	// no key file is given. Routers mount the same Secret.
	KeySecretName = "jumpstarter-router-key"
	// KeySecretKey is the Secret's data key of the shared key.
	KeySecretKey = "key"
	// MinKeySize is the shortest key accepted, in bytes: HS256 needs at least 256 bits.
	MinKeySize = 32
	// generatedKeySize is the entropy of a generated key, in bytes: enough for HS512, which
	// routers accept too.
	generatedKeySize = 64
)

// GenerateKey makes a new shared key: random bytes in unpadded base64url, so that the same
// value works as a file, a Secret value and an environment variable.
func GenerateKey() ([]byte, error) {
	raw := make([]byte, generatedKeySize)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("generate router key: %w", err)
	}
	return []byte(base64.RawURLEncoding.EncodeToString(raw)), nil
}

// LoadKeyFile reads the shared key from a file. Trailing line breaks and spaces are not part
// of the key: files written by editors and `echo` end with one.
func LoadKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read router key: %w", err)
	}
	key := bytes.TrimRight(data, " \t\r\n")
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("router key %s: %w", path, err)
	}
	return key, nil
}

// LoadOrCreateKeySecret reads the shared key from the Secret KeySecretName in namespace,
// creating the Secret with a fresh key if there is none. Replicas starting together race to
// create it; the loser reads the winner's key. reader should be uncached (the manager's API
// reader): the controller's Secret cache holds credential Secrets only.
func LoadOrCreateKeySecret(ctx context.Context, reader client.Reader, writer client.Writer, namespace string) ([]byte, error) {
	name := types.NamespacedName{Namespace: namespace, Name: KeySecretName}
	key, err := keysecret.LoadOrCreate(ctx, reader, writer, name, KeySecretKey, GenerateKey)
	if err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("secret %s key %s: %w", name, KeySecretKey, err)
	}
	return key, nil
}

func checkKey(key []byte) error {
	if len(key) < MinKeySize {
		return fmt.Errorf("router key is %d bytes, want at least %d", len(key), MinKeySize)
	}
	return nil
}
