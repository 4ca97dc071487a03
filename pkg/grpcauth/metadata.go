package grpcauth

import (
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/util/validation"
)

// The metadata keys of controller calls (§3.2). gRPC metadata keys are lower case.
const (
	MetadataAuthorization = "authorization"
	MetadataKind          = "jumpstarter-kind"
	MetadataNamespace     = "jumpstarter-namespace"
	MetadataName          = "jumpstarter-name"
)

// bearerPrefix starts the authorization value; the reference matches it case-insensitively.
const bearerPrefix = "Bearer "

// bearerToken is steps 2 to 4: exactly one authorization value, "Bearer <token>".
func bearerToken(md metadata.MD) (string, error) {
	values := md.Get(MetadataAuthorization)
	switch {
	case len(values) == 0:
		return "", status.Error(codes.Unauthenticated, "missing authorization header")
	case len(values) > 1:
		return "", status.Errorf(codes.InvalidArgument, "multiple authorization headers: got %d, want one", len(values))
	}
	v := values[0]
	if len(v) < len(bearerPrefix) || !strings.EqualFold(v[:len(bearerPrefix)], bearerPrefix) {
		return "", status.Error(codes.InvalidArgument, `malformed authorization header: want "Bearer <token>"`)
	}
	raw := v[len(bearerPrefix):]
	if raw == "" {
		return "", status.Error(codes.InvalidArgument, `malformed authorization header: empty token after "Bearer "`)
	}
	return raw, nil
}

// objectMetadata is step 6: jumpstarter-namespace and jumpstarter-kind, each once. The kind
// is checked against the method in step 8; the namespace must be a namespace name, so that
// it can only name what the caller meant.
func objectMetadata(md metadata.MD) (namespace, kind string, err error) {
	if namespace, err = single(md, MetadataNamespace); err != nil {
		return "", "", err
	}
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return "", "", invalid(MetadataNamespace, namespace, errs)
	}
	if kind, err = single(md, MetadataKind); err != nil {
		return "", "", err
	}
	return namespace, kind, nil
}

// sentName is jumpstarter-name if sent (step 7), "" if not. An empty value counts as not
// sent.
func sentName(md metadata.MD) (string, error) {
	values := md.Get(MetadataName)
	switch {
	case len(values) > 1:
		return "", multiple(MetadataName)
	case len(values) == 0 || values[0] == "":
		return "", nil
	}
	if errs := validation.IsDNS1123Subdomain(values[0]); len(errs) > 0 {
		return "", invalid(MetadataName, values[0], errs)
	}
	return values[0], nil
}

// single is the one non-empty value of key.
func single(md metadata.MD, key string) (string, error) {
	values := md.Get(key)
	switch {
	case len(values) > 1:
		return "", multiple(key)
	case len(values) == 0 || values[0] == "":
		return "", status.Errorf(codes.InvalidArgument, "missing metadata: %s", key)
	}
	return values[0], nil
}

func multiple(key string) error {
	return status.Errorf(codes.InvalidArgument, "multiple metadata: %s", key)
}

func invalid(key, value string, errs []string) error {
	return status.Errorf(codes.InvalidArgument, "invalid metadata: %s %q: %s", key, value, strings.Join(errs, "; "))
}

// describe names a kind in messages: "client", "exporter", or the value as sent.
func describe(kind string) string {
	if kind == "Client" || kind == "Exporter" {
		return strings.ToLower(kind)
	}
	return fmt.Sprintf("object of kind %q", kind)
}
