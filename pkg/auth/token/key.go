package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"jumpstarter.dev/service/pkg/auth/keysecret"
)

const (
	// SigningKeySecretName is the Secret in the controller's namespace that holds the signing
	// key when no key file is given.
	SigningKeySecretName = "jumpstarter-token-signing-key"
	// SigningKeySecretKey is the Secret's data key of the PEM private key.
	SigningKeySecretKey = "key.pem"
)

// ParsePrivateKeyPEM reads a P-256 private key in PEM, SEC 1 ("EC PRIVATE KEY") or PKCS #8
// ("PRIVATE KEY"). Other blocks before the key (such as EC PARAMETERS) are skipped.
func ParsePrivateKeyPEM(data []byte) (*ecdsa.PrivateKey, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no EC PRIVATE KEY or PRIVATE KEY PEM block")
		}
		var key any
		var err error
		switch block.Type {
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", block.Type, err)
		}
		ec, ok := key.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s is a %T, want an ECDSA P-256 key", block.Type, key)
		}
		if err := checkCurve(ec); err != nil {
			return nil, err
		}
		return ec, nil
	}
}

// MarshalPrivateKeyPEM encodes key as a SEC 1 "EC PRIVATE KEY" PEM block.
func MarshalPrivateKeyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// GenerateKey makes a new P-256 signing key.
func GenerateKey() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// LoadKeyFile reads a PEM private key file.
func LoadKeyFile(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read token signing key: %w", err)
	}
	key, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("token signing key %s: %w", path, err)
	}
	return key, nil
}

// LoadOrCreateKeySecret reads the signing key from the Secret SigningKeySecretName in
// namespace, creating the Secret with a fresh key if there is none. Replicas starting together
// race to create it; the loser reads the winner's key. reader should be uncached (the manager's
// API reader): the controller's Secret cache holds credential Secrets only.
func LoadOrCreateKeySecret(ctx context.Context, reader client.Reader, writer client.Writer, namespace string) (*ecdsa.PrivateKey, error) {
	name := types.NamespacedName{Namespace: namespace, Name: SigningKeySecretName}
	data, err := keysecret.LoadOrCreate(ctx, reader, writer, name, SigningKeySecretKey, func() ([]byte, error) {
		fresh, err := GenerateKey()
		if err != nil {
			return nil, err
		}
		return MarshalPrivateKeyPEM(fresh)
	})
	if err != nil {
		return nil, err
	}
	parsed, err := ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("secret %s key %s: %w", name, SigningKeySecretKey, err)
	}
	return parsed, nil
}
