package clientconfig

import (
	"bytes"
	"encoding/base64"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// APIVersion is the apiVersion of every config file.
const APIVersion = "jumpstarter.dev/v1alpha1"

// Kinds of config files.
const (
	KindClientConfig   = "ClientConfig"
	KindExporterConfig = "ExporterConfig"
	KindUserConfig     = "UserConfig"
)

// CAConfigMapName is the ConfigMap, in the namespace of a Client or Exporter, whose key
// CAConfigMapKey holds the PEM bundle that `admin create` puts into tls.ca: the CA of the
// controller's and the router's certificates (the upstream tool reads the same ConfigMap).
const (
	CAConfigMapName = "jumpstarter-service-ca-cert"
	CAConfigMapKey  = "ca.crt"
)

// ObjectMeta names the Client or Exporter a config file stands for; the tools send it as the
// jumpstarter-namespace and jumpstarter-name metadata.
type ObjectMeta struct {
	Namespace string `yaml:"namespace"`
	Name      string `yaml:"name"`
}

var objectMetaKeys = []string{"namespace", "name"}

func decodeObjectMeta(n *yaml.Node, path string, dst *ObjectMeta) error {
	if n == nil || isNull(resolveAlias(n)) {
		return fmt.Errorf("%s: missing, want namespace and name", path)
	}
	entries, err := mapping(n, path, objectMetaKeys)
	if err != nil {
		return err
	}
	for _, e := range entries {
		switch e.key {
		case "namespace":
			err = decodeString(e.value, join(path, e.key), &dst.Namespace)
		case "name":
			err = decodeString(e.value, join(path, e.key), &dst.Name)
		}
		if err != nil {
			return err
		}
	}
	if dst.Namespace == "" {
		return fmt.Errorf("%s.namespace: required", path)
	}
	if dst.Name == "" {
		return fmt.Errorf("%s.name: required", path)
	}
	return nil
}

// TLS are the trust settings for the controller and the router (wire contract §3.1).
type TLS struct {
	// CA is the base64 encoding of a PEM CA bundle, the only roots trusted; empty means the
	// system trust store. Use EncodeCA and CABundle rather than handling the base64.
	CA string `yaml:"ca"`
	// Insecure trusts whatever chain the server presents (host names are still checked).
	Insecure bool `yaml:"insecure"`
}

// EncodeCA is the tls.ca value of a PEM bundle; empty for an empty bundle.
func EncodeCA(pemBundle []byte) string {
	if len(bytes.TrimSpace(pemBundle)) == 0 {
		return ""
	}
	return base64.StdEncoding.EncodeToString(pemBundle)
}

// CABundle decodes tls.ca into its PEM bundle; nil when tls.ca is empty.
func (t TLS) CABundle() ([]byte, error) {
	if t.CA == "" {
		return nil, nil
	}
	data, err := base64.StdEncoding.DecodeString(t.CA)
	if err != nil {
		return nil, fmt.Errorf("tls.ca: not base64: %w", err)
	}
	return data, nil
}

// validate checks that tls.ca is base64. Whether it holds certificates is the business of the
// tool that connects (and of whoever wrote the file: see CABundle).
func (t TLS) validate() error {
	_, err := t.CABundle()
	return err
}

// decodeTLS ignores unknown keys, as the Python tools do.
func decodeTLS(n *yaml.Node, path string, dst *TLS) error {
	entries, err := mapping(n, path, nil)
	if err != nil {
		return err
	}
	for _, e := range entries {
		switch e.key {
		case "ca":
			err = decodeString(e.value, join(path, e.key), &dst.CA)
		case "insecure":
			err = decodeBool(e.value, join(path, e.key), &dst.Insecure)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// validateGRPCOptions checks values a caller put into grpcOptions: strings or integers only.
func validateGRPCOptions(opts map[string]any) error {
	for k, v := range opts {
		switch v.(type) {
		case string, int, int32, int64:
		default:
			return fmt.Errorf("grpcOptions.%s: want a string or an integer, got %T", k, v)
		}
	}
	return nil
}

// encode writes v as the Python tools do: block style, two-space indentation, lists at the
// indentation of their key, keys in struct order.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	enc.CompactSeqIndent()
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
