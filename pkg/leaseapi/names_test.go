package leaseapi

import (
	"testing"

	"google.golang.org/grpc/codes"
	"k8s.io/apimachinery/pkg/types"
)

func TestFormatNames(t *testing.T) {
	for got, want := range map[string]string{
		FormatNamespace("lab"):              "namespaces/lab",
		FormatExporterName("lab", "board1"): "namespaces/lab/exporters/board1",
		FormatLeaseName("lab", "l1"):        "namespaces/lab/leases/l1",
		FormatClientName("lab", "alice"):    "namespaces/lab/clients/alice",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestParseNamespace(t *testing.T) {
	tests := []struct {
		in   string
		want string
		code codes.Code
	}{
		{"namespaces/lab", "lab", codes.OK},
		{"", "", codes.InvalidArgument},
		{"namespaces", "", codes.InvalidArgument},
		{"namespaces/", "", codes.InvalidArgument},
		{"namespace/lab", "", codes.InvalidArgument},
		{"namespaces/lab/leases", "", codes.InvalidArgument},
		{"namespaces/Lab", "", codes.InvalidArgument},
		{"/namespaces/lab", "", codes.InvalidArgument},
	}
	for _, tt := range tests {
		got, err := ParseNamespace("parent", tt.in)
		wantStatus(t, err, tt.code, "parent")
		if got != tt.want {
			t.Errorf("ParseNamespace(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseObjectNames(t *testing.T) {
	type parser func(string, string) (types.NamespacedName, error)
	tests := []struct {
		name  string
		parse parser
		in    string
		want  types.NamespacedName
		code  codes.Code
	}{
		{"lease", ParseLeaseName, "namespaces/lab/leases/0190f7a2-1111-7000-8000-000000000001",
			types.NamespacedName{Namespace: "lab", Name: "0190f7a2-1111-7000-8000-000000000001"}, codes.OK},
		{"exporter", ParseExporterName, "namespaces/lab/exporters/board1", types.NamespacedName{Namespace: "lab", Name: "board1"}, codes.OK},
		{"client", ParseClientName, "namespaces/lab/clients/alice", types.NamespacedName{Namespace: "lab", Name: "alice"}, codes.OK},
		{"wrong collection", ParseLeaseName, "namespaces/lab/exporters/board1", types.NamespacedName{}, codes.InvalidArgument},
		{"bare name", ParseLeaseName, "l1", types.NamespacedName{}, codes.InvalidArgument},
		{"empty", ParseLeaseName, "", types.NamespacedName{}, codes.InvalidArgument},
		{"five segments", ParseLeaseName, "namespaces/lab/leases/l1/x", types.NamespacedName{}, codes.InvalidArgument},
		{"empty name", ParseLeaseName, "namespaces/lab/leases/", types.NamespacedName{}, codes.InvalidArgument},
		{"empty namespace", ParseLeaseName, "namespaces//leases/l1", types.NamespacedName{}, codes.InvalidArgument},
		{"bad name", ParseExporterName, "namespaces/lab/exporters/Board_1", types.NamespacedName{}, codes.InvalidArgument},
		{"bad literal", ParseClientName, "ns/lab/clients/alice", types.NamespacedName{}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse("field.name", tt.in)
			wantStatus(t, err, tt.code, "field.name")
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
