package leaseapi

import (
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/types"
)

// Collection segments of resource names (wire contract §3.4).
const (
	collectionNamespaces = "namespaces"
	collectionExporters  = "exporters"
	collectionLeases     = "leases"
	collectionClients    = "clients"
)

// FormatNamespace is the parent name of a namespace: namespaces/{ns}.
func FormatNamespace(namespace string) string {
	return collectionNamespaces + "/" + namespace
}

// FormatExporterName is an exporter's resource name: namespaces/{ns}/exporters/{name}.
func FormatExporterName(namespace, name string) string {
	return FormatNamespace(namespace) + "/" + collectionExporters + "/" + name
}

// FormatLeaseName is a lease's resource name: namespaces/{ns}/leases/{id}.
func FormatLeaseName(namespace, name string) string {
	return FormatNamespace(namespace) + "/" + collectionLeases + "/" + name
}

// FormatClientName is a client's resource name: namespaces/{ns}/clients/{name}.
func FormatClientName(namespace, name string) string {
	return FormatNamespace(namespace) + "/" + collectionClients + "/" + name
}

// ParseNamespace parses a parent name, namespaces/{ns}, from the request field fieldName.
func ParseNamespace(fieldName, name string) (string, error) {
	parts := strings.Split(name, "/")
	if len(parts) != 2 || parts[0] != collectionNamespaces {
		return "", malformedName(fieldName, name, "namespaces/{namespace}")
	}
	if err := validateNamespace(fieldName, parts[1]); err != nil {
		return "", err
	}
	return parts[1], nil
}

// ParseExporterName parses namespaces/{ns}/exporters/{name} from the request field fieldName.
func ParseExporterName(fieldName, name string) (types.NamespacedName, error) {
	return parseObjectName(fieldName, name, collectionExporters)
}

// ParseLeaseName parses namespaces/{ns}/leases/{id} from the request field fieldName.
func ParseLeaseName(fieldName, name string) (types.NamespacedName, error) {
	return parseObjectName(fieldName, name, collectionLeases)
}

// ParseClientName parses namespaces/{ns}/clients/{name} from the request field fieldName.
func ParseClientName(fieldName, name string) (types.NamespacedName, error) {
	return parseObjectName(fieldName, name, collectionClients)
}

func parseObjectName(fieldName, name, collection string) (types.NamespacedName, error) {
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != collectionNamespaces || parts[2] != collection {
		return types.NamespacedName{}, malformedName(fieldName, name, "namespaces/{namespace}/"+collection+"/{name}")
	}
	if err := validateNamespace(fieldName, parts[1]); err != nil {
		return types.NamespacedName{}, err
	}
	if err := ValidateObjectName(fieldName, parts[3]); err != nil {
		return types.NamespacedName{}, err
	}
	return types.NamespacedName{Namespace: parts[1], Name: parts[3]}, nil
}

func malformedName(fieldName, name, want string) error {
	if name == "" {
		return invalidArgument(fieldName, "required, in the form %s", want)
	}
	return invalidArgument(fieldName, "%s is not in the form %s", quote(name), want)
}

func validateNamespace(fieldName, namespace string) error {
	if errs := content.IsDNS1123Label(namespace); len(errs) > 0 {
		return invalidArgument(fieldName, "namespace %s is invalid: %s", quote(namespace), strings.Join(errs, "; "))
	}
	return nil
}

// ValidateObjectName checks a bare object name (an exporter, a client, a legacy lease name)
// from the request field fieldName.
func ValidateObjectName(fieldName, name string) error {
	if name == "" {
		return invalidArgument(fieldName, "required")
	}
	if errs := content.IsDNS1123Subdomain(name); len(errs) > 0 {
		return invalidArgument(fieldName, "%s is not a valid name: %s", quote(name), strings.Join(errs, "; "))
	}
	return nil
}
