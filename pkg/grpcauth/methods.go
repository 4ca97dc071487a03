package grpcauth

import (
	"strings"

	"jumpstarter.dev/service/pkg/auth/identity"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// rule is who may call a method.
type rule int

const (
	// rulePublic: no authentication (health, reflection, anything outside the two services).
	rulePublic rule = iota
	ruleClient
	ruleExporter
	// ruleReleaseLease: the exporter path when jumpstarter-kind is exactly "Exporter", the
	// client path otherwise (§3.2).
	ruleReleaseLease
	// ruleDeny: a method of a protected service that this table does not know. Failing
	// closed means a method added to the protocol is unreachable until someone decides who
	// may call it.
	ruleDeny
)

// controllerRules are the ControllerService methods (§1.3).
var controllerRules = map[string]rule{
	jumpstarterv1.ControllerService_Register_FullMethodName:            ruleExporter,
	jumpstarterv1.ControllerService_Unregister_FullMethodName:          ruleExporter,
	jumpstarterv1.ControllerService_ReportStatus_FullMethodName:        ruleExporter,
	jumpstarterv1.ControllerService_Status_FullMethodName:              ruleExporter,
	jumpstarterv1.ControllerService_Listen_FullMethodName:              ruleExporter,
	jumpstarterv1.ControllerService_GetServiceEndpoints_FullMethodName: ruleExporter,
	jumpstarterv1.ControllerService_Dial_FullMethodName:                ruleClient,
	jumpstarterv1.ControllerService_GetLease_FullMethodName:            ruleClient,
	jumpstarterv1.ControllerService_RequestLease_FullMethodName:        ruleClient,
	jumpstarterv1.ControllerService_ListLeases_FullMethodName:          ruleClient,
	jumpstarterv1.ControllerService_ReleaseLease_FullMethodName:        ruleReleaseLease,
}

// ruleFor is the rule of a full gRPC method name ("/package.Service/Method"). Services are
// matched by prefix, so that no spelling of a path inside them escapes authentication.
func ruleFor(fullMethod string) rule {
	if r, ok := controllerRules[fullMethod]; ok {
		return r
	}
	switch {
	case strings.HasPrefix(fullMethod, "/"+clientv1.ClientService_ServiceDesc.ServiceName+"/"):
		return ruleClient
	case strings.HasPrefix(fullMethod, "/"+jumpstarterv1.ControllerService_ServiceDesc.ServiceName+"/"):
		return ruleDeny
	}
	return rulePublic
}

// kind is the kind a caller must present (jumpstarter-kind) under r.
func (r rule) kind(sent string) identity.Kind {
	switch r {
	case ruleExporter:
		return identity.KindExporter
	case ruleReleaseLease:
		if sent == string(identity.KindExporter) {
			return identity.KindExporter
		}
	}
	return identity.KindClient
}
