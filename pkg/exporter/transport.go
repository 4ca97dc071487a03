package exporter

import (
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// Transports to the router.
const (
	TransportGRPC = "grpc"
	TransportQUIC = "quic"
)

// ConfigTransport is the optional top-level `transport` key of an exporter config file
// (grpc or quic), an extension of this exporter that the Python tools ignore; "" when the
// file does not set it.
func ConfigTransport(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read exporter config: %w", err)
	}
	var doc struct {
		Transport string `yaml:"transport"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return "", fmt.Errorf("exporter config %s: %w", path, err)
	}
	switch doc.Transport {
	case "", TransportGRPC, TransportQUIC:
		return doc.Transport, nil
	}
	return "", fmt.Errorf("exporter config %s: transport: %q, want %s or %s", path, doc.Transport, TransportGRPC, TransportQUIC)
}
