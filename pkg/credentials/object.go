package credentials

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/token"
)

// Secret data keys and annotations.
const (
	// KeyToken is the current token.
	KeyToken = "token"
	// KeyPreviousToken is the token a renewal replaced; it stays valid until its own expiry.
	KeyPreviousToken = "previous-token"
	// AnnotationRotatedToken on the Secret is the last jumpstarter.dev/rotate-token value of
	// the owner that was handled, so that each value rotates once.
	AnnotationRotatedToken = "jumpstarter.dev/rotated-token"
)

// SecretName is the name of the credential Secret of the object kind/name.
func SecretName(kind token.Kind, name string) string {
	return name + "-" + string(kind)
}

// KindOf is the token kind of a Client or Exporter.
func KindOf(obj client.Object) (token.Kind, error) {
	switch obj.(type) {
	case *jumpstarterv1alpha1.Client:
		return token.KindClient, nil
	case *jumpstarterv1alpha1.Exporter:
		return token.KindExporter, nil
	default:
		return "", fmt.Errorf("%T has no credential", obj)
	}
}

// NewObject is an empty Client or Exporter.
func NewObject(kind token.Kind) (client.Object, error) {
	switch kind {
	case token.KindClient:
		return &jumpstarterv1alpha1.Client{}, nil
	case token.KindExporter:
		return &jumpstarterv1alpha1.Exporter{}, nil
	default:
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
}

func groupVersionKind(kind token.Kind) schema.GroupVersionKind {
	if kind == token.KindClient {
		return jumpstarterv1alpha1.GroupVersion.WithKind("Client")
	}
	return jumpstarterv1alpha1.GroupVersion.WithKind("Exporter")
}

func subjectOf(kind token.Kind, obj client.Object) token.Subject {
	return token.Subject{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID()}
}

// setStatus records the credential on the object's status: the Secret, the endpoint (when
// configured) and, on a Client, the token's expiry.
func setStatus(obj client.Object, secret, endpoint string, expiresAt time.Time) {
	ref := &corev1.LocalObjectReference{Name: secret}
	switch o := obj.(type) {
	case *jumpstarterv1alpha1.Client:
		o.Status.Credential = ref
		if endpoint != "" {
			o.Status.Endpoint = endpoint
		}
		o.Status.TokenExpiresAt = &metav1.Time{Time: expiresAt}
	case *jumpstarterv1alpha1.Exporter:
		o.Status.Credential = ref
		if endpoint != "" {
			o.Status.Endpoint = endpoint
		}
	}
}

func statusOf(obj client.Object) any {
	switch o := obj.(type) {
	case *jumpstarterv1alpha1.Client:
		return o.Status
	case *jumpstarterv1alpha1.Exporter:
		return o.Status
	}
	return nil
}
