package grpcauth

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/identity"
	"jumpstarter.dev/service/pkg/auth/token"
)

// authorizer matches usernames to Client and Exporter objects.
type authorizer struct {
	reader         client.Reader
	internalPrefix string
}

// external reports whether username comes from an external OIDC issuer: it is neither an
// internal token's nor a ServiceAccount's. Package authn guarantees that OIDC usernames
// never take those forms.
func (a *authorizer) external(username string) bool {
	return !strings.HasPrefix(username, a.internalPrefix) &&
		!strings.HasPrefix(username, serviceaccount.ServiceAccountUsernamePrefix)
}

// resolveName is step 7. Internal and ServiceAccount callers name their object. An external
// user is bound to objects by their spec.username, so the name follows from the username;
// a name that is sent anyway must be one of those objects.
func (a *authorizer) resolveName(ctx context.Context, kind, namespace, username, sent string) (string, error) {
	if !a.external(username) {
		if sent == "" {
			return "", status.Errorf(codes.InvalidArgument, "resource name required: send %s with the name of the %s", MetadataName, describe(kind))
		}
		return sent, nil
	}
	if kind != string(identity.KindClient) && kind != string(identity.KindExporter) {
		// Nothing to derive from; step 8 refuses the kind.
		return sent, nil
	}
	bound, err := a.boundTo(ctx, identity.Kind(kind), namespace, username)
	if err != nil {
		return "", err
	}
	what := describe(kind)
	switch {
	case sent != "" && slices.Contains(bound, sent):
		return sent, nil
	case sent != "" && len(bound) == 0:
		return "", status.Errorf(codes.InvalidArgument, "resource name mismatch: %s is %q, but user %q is bound to no %s in namespace %q (spec.username)",
			MetadataName, sent, username, what, namespace)
	case sent != "":
		return "", status.Errorf(codes.InvalidArgument, "resource name mismatch: %s is %q, but user %q is bound to %s %s in namespace %q (spec.username)",
			MetadataName, sent, username, what, quoteAll(bound), namespace)
	case len(bound) == 1:
		return bound[0], nil
	case len(bound) == 0:
		return "", status.Errorf(codes.InvalidArgument, "resource name required: no %s in namespace %q has spec.username %q",
			what, namespace, username)
	default:
		return "", status.Errorf(codes.InvalidArgument, "resource name required: %ss %s in namespace %q all have spec.username %q; send %s to choose",
			what, quoteAll(bound), namespace, username, MetadataName)
	}
}

// boundTo lists the names of the objects of kind in namespace whose spec.username is
// username, sorted.
func (a *authorizer) boundTo(ctx context.Context, kind identity.Kind, namespace, username string) ([]string, error) {
	var names []string
	switch kind {
	case identity.KindClient:
		list := &jumpstarterv1alpha1.ClientList{}
		if err := a.reader.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return nil, status.Errorf(codes.Unavailable, "list clients in namespace %q: %v", namespace, err)
		}
		for i := range list.Items {
			if u := list.Items[i].Spec.Username; u != nil && *u == username {
				names = append(names, list.Items[i].Name)
			}
		}
	case identity.KindExporter:
		list := &jumpstarterv1alpha1.ExporterList{}
		if err := a.reader.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return nil, status.Errorf(codes.Unavailable, "list exporters in namespace %q: %v", namespace, err)
		}
		for i := range list.Items {
			if u := list.Items[i].Spec.Username; u != nil && *u == username {
				names = append(names, list.Items[i].Name)
			}
		}
	}
	slices.Sort(names)
	return names, nil
}

// authorize is step 9: id.Username must be the credential of the object id names (prefix +
// its token subject, which includes the UID, so a token of a deleted and re-created object
// does not match) or its spec.username. A missing object is refused with the same message
// as a mismatch, so that callers cannot probe which objects exist.
func (a *authorizer) authorize(ctx context.Context, id identity.Identity) error {
	var (
		obj  client.Object
		kind token.Kind
	)
	switch id.Kind {
	case identity.KindClient:
		obj, kind = &jumpstarterv1alpha1.Client{}, token.KindClient
	case identity.KindExporter:
		obj, kind = &jumpstarterv1alpha1.Exporter{}, token.KindExporter
	default:
		return denied(id)
	}
	err := a.reader.Get(ctx, types.NamespacedName{Namespace: id.Namespace, Name: id.Name}, obj)
	if apierrors.IsNotFound(err) {
		return denied(id)
	} else if err != nil {
		return status.Errorf(codes.Unavailable, "look up %s: %v", id, err)
	}
	specUsername := specUsernameOf(obj)
	subject := token.Subject{Kind: kind, Namespace: id.Namespace, Name: id.Name, UID: obj.GetUID()}
	if id.Username == a.internalPrefix+subject.String() || (specUsername != nil && *specUsername == id.Username) {
		return nil
	}
	return denied(id)
}

func specUsernameOf(obj client.Object) *string {
	switch o := obj.(type) {
	case *jumpstarterv1alpha1.Client:
		return o.Spec.Username
	case *jumpstarterv1alpha1.Exporter:
		return o.Spec.Username
	}
	return nil
}

func denied(id identity.Identity) error {
	return status.Errorf(codes.PermissionDenied, "permission denied for %s: user %q may not act as it", id, id.Username)
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
