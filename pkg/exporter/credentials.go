package exporter

import (
	"context"

	"google.golang.org/grpc/credentials"
)

// The metadata of controller calls (§3.2); package grpcauth checks them on the server side.
// They are repeated here so that the agent does not link the controller's authentication
// code; a test keeps the two in step.
const (
	metadataAuthorization = "authorization"
	metadataKind          = "jumpstarter-kind"
	metadataNamespace     = "jumpstarter-namespace"
	metadataName          = "jumpstarter-name"

	kindExporter = "Exporter"
)

// callMetadata are per-call credentials: fixed metadata on every call, over TLS only.
type callMetadata map[string]string

var _ credentials.PerRPCCredentials = callMetadata(nil)

func (m callMetadata) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return m, nil
}

func (callMetadata) RequireTransportSecurity() bool { return true }

// exporterCredentials are the metadata of the exporter's controller calls.
func exporterCredentials(namespace, name, token string) callMetadata {
	return callMetadata{
		metadataAuthorization: "Bearer " + token,
		metadataKind:          kindExporter,
		metadataNamespace:     namespace,
		metadataName:          name,
	}
}
