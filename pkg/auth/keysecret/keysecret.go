package keysecret

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// LoadOrCreate returns the data under dataKey of the Secret name, creating the Secret with
// generate's value if there is none. Replicas starting together race to create it; the loser
// reads the winner's value. reader should be uncached (the manager's API reader): the
// controller caches credential Secrets only. The caller validates what it gets.
func LoadOrCreate(ctx context.Context, reader client.Reader, writer client.Writer, name types.NamespacedName, dataKey string, generate func() ([]byte, error)) ([]byte, error) {
	secret := &corev1.Secret{}
	err := reader.Get(ctx, name, secret)
	if apierrors.IsNotFound(err) {
		fresh, genErr := generate()
		if genErr != nil {
			return nil, fmt.Errorf("generate the key of secret %s: %w", name, genErr)
		}
		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: name.Namespace, Name: name.Name},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{dataKey: fresh},
		}
		err = writer.Create(ctx, secret)
		switch {
		case err == nil:
			klog.FromContext(ctx).Info("Created key secret", "secret", klog.KObj(secret))
			return fresh, nil
		case apierrors.IsAlreadyExists(err):
			err = reader.Get(ctx, name, secret)
		default:
			return nil, fmt.Errorf("create secret %s: %w", name, err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("get secret %s: %w", name, err)
	}
	return secret.Data[dataKey], nil
}
