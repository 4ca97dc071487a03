package grpcauth

import (
	"testing"

	"google.golang.org/grpc"

	"jumpstarter.dev/service/pkg/auth/identity"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// TestEveryMethodHasARule walks the generated services, so that a method added to the
// protocol fails here until the table says who may call it.
func TestEveryMethodHasARule(t *testing.T) {
	// The callers of §1.3; ReleaseLease is both.
	want := map[string]rule{
		"/jumpstarter.v1.ControllerService/Register":            ruleExporter,
		"/jumpstarter.v1.ControllerService/Unregister":          ruleExporter,
		"/jumpstarter.v1.ControllerService/ReportStatus":        ruleExporter,
		"/jumpstarter.v1.ControllerService/Listen":              ruleExporter,
		"/jumpstarter.v1.ControllerService/Status":              ruleExporter,
		"/jumpstarter.v1.ControllerService/GetServiceEndpoints": ruleExporter,
		"/jumpstarter.v1.ControllerService/Dial":                ruleClient,
		"/jumpstarter.v1.ControllerService/GetLease":            ruleClient,
		"/jumpstarter.v1.ControllerService/RequestLease":        ruleClient,
		"/jumpstarter.v1.ControllerService/ListLeases":          ruleClient,
		"/jumpstarter.v1.ControllerService/ReleaseLease":        ruleReleaseLease,
		"/jumpstarter.client.v1.ClientService/GetExporter":      ruleClient,
		"/jumpstarter.client.v1.ClientService/ListExporters":    ruleClient,
		"/jumpstarter.client.v1.ClientService/GetLease":         ruleClient,
		"/jumpstarter.client.v1.ClientService/ListLeases":       ruleClient,
		"/jumpstarter.client.v1.ClientService/CreateLease":      ruleClient,
		"/jumpstarter.client.v1.ClientService/UpdateLease":      ruleClient,
		"/jumpstarter.client.v1.ClientService/DeleteLease":      ruleClient,
		"/jumpstarter.client.v1.ClientService/RotateToken":      ruleClient,
	}
	seen := 0
	for _, desc := range []grpc.ServiceDesc{jumpstarterv1.ControllerService_ServiceDesc, clientv1.ClientService_ServiceDesc} {
		var names []string
		for _, m := range desc.Methods {
			names = append(names, m.MethodName)
		}
		for _, s := range desc.Streams {
			names = append(names, s.StreamName)
		}
		for _, name := range names {
			method := "/" + desc.ServiceName + "/" + name
			w, ok := want[method]
			if !ok {
				t.Errorf("%s: not in this test's table; add it and to controllerRules", method)
				continue
			}
			if got := ruleFor(method); got != w {
				t.Errorf("%s: rule %d, want %d", method, got, w)
			}
			seen++
		}
	}
	if seen != len(want) {
		t.Errorf("the services have %d methods, the table %d", seen, len(want))
	}
}

func TestRuleFor(t *testing.T) {
	for _, tc := range []struct {
		method string
		want   rule
	}{
		{"/jumpstarter.v1.ControllerService/Unknown", ruleDeny},
		{"/jumpstarter.v1.ControllerService/Register/x", ruleDeny},
		{"/jumpstarter.client.v1.ClientService/Future", ruleClient},
		{"/jumpstarter.client.v1.ClientService/a/b", ruleClient},
		{"/grpc.health.v1.Health/Check", rulePublic},
		{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", rulePublic},
		{"/jumpstarter.v1.ControllerServiceX/Register", rulePublic},
		{"", rulePublic},
	} {
		if got := ruleFor(tc.method); got != tc.want {
			t.Errorf("ruleFor(%q) = %d, want %d", tc.method, got, tc.want)
		}
	}
}

func TestRuleKind(t *testing.T) {
	for _, tc := range []struct {
		rule rule
		sent string
		want identity.Kind
	}{
		{ruleClient, "Exporter", identity.KindClient},
		{ruleExporter, "Client", identity.KindExporter},
		{ruleReleaseLease, "Exporter", identity.KindExporter},
		{ruleReleaseLease, "Client", identity.KindClient},
		{ruleReleaseLease, "exporter", identity.KindClient},
		{ruleReleaseLease, "", identity.KindClient},
	} {
		if got := tc.rule.kind(tc.sent); got != tc.want {
			t.Errorf("rule %d, sent %q: %s, want %s", tc.rule, tc.sent, got, tc.want)
		}
	}
}
