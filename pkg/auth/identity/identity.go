package identity

import (
	"context"
	"fmt"
)

// Kind is the kind of object a caller acts as, the value of the jumpstarter-kind metadata.
type Kind string

// The kinds a caller can be.
const (
	KindClient   Kind = "Client"
	KindExporter Kind = "Exporter"
)

// Identity is an authenticated and authorized caller: the object it acts as, which exists
// and whose credential or spec.username the caller's token matched.
type Identity struct {
	Kind      Kind
	Namespace string
	Name      string
	// Username is what the token authenticated as: "internal:client:<ns>:<name>:<uid>" for
	// tokens this controller issued, the OIDC username for external issuers, and
	// "system:serviceaccount:<ns>:<name>" for ServiceAccount tokens.
	Username string
}

// String names the object, e.g. "client lab/alice", as error messages do.
func (i Identity) String() string {
	kind := "client"
	if i.Kind == KindExporter {
		kind = "exporter"
	}
	return fmt.Sprintf("%s %s/%s", kind, i.Namespace, i.Name)
}

type contextKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, contextKey{}, id)
}

// FromContext returns the identity in ctx, if any.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(contextKey{}).(Identity)
	return id, ok
}
