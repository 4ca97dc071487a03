package controller

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

func TestControllerNamespace(t *testing.T) {
	tests := []struct {
		name           string
		flag, env, lea string
		want           string
	}{
		{name: "flag wins", flag: "ns-flag", env: "ns-env", lea: "kube-system", want: "ns-flag"},
		{name: "pod namespace", env: "ns-env", lea: "kube-system", want: "ns-env"},
		{name: "leader election namespace (the lab)", lea: "kube-system", want: "kube-system"},
		{name: "default", want: DefaultNamespace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvPodNamespace, tt.env)
			opts := DefaultOptions()
			opts.Namespace, opts.LeaderElectionNamespace = tt.flag, tt.lea
			if got := opts.controllerNamespace(); got != tt.want {
				t.Errorf("controllerNamespace() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCacheKeepsCredentialSecretsOnly(t *testing.T) {
	opts, err := cacheOptions()
	if err != nil {
		t.Fatal(err)
	}
	var selector labels.Selector
	for obj, by := range opts.ByObject {
		if _, ok := obj.(*corev1.Secret); ok {
			selector = by.Label
		}
	}
	if selector == nil {
		t.Fatal("no cache restriction for Secrets: the controller would cache every Secret of the cluster")
	}
	if !selector.Matches(labels.Set{jumpstarterv1alpha1.LabelCredential: "true"}) || selector.Matches(labels.Set{}) {
		t.Errorf("secret selector %s", selector)
	}
}

func TestValidateGRPCFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // substring of the error; empty: valid
	}{
		{name: "default listener without a certificate", want: `--grpc-bind-address ":8082" needs --grpc-tls-cert-file and --grpc-tls-key-file`},
		{name: "gRPC disabled", args: []string{"--grpc-bind-address="}},
		{name: "certificate and key", args: []string{"--grpc-tls-cert-file=tls.crt", "--grpc-tls-key-file=tls.key"}},
		{name: "other address", args: []string{"--grpc-bind-address=127.0.0.1:9000", "--grpc-tls-cert-file=tls.crt", "--grpc-tls-key-file=tls.key"}},
		{name: "certificate without key", args: []string{"--grpc-tls-cert-file=tls.crt"}, want: "needs --grpc-tls-cert-file and --grpc-tls-key-file"},
		{name: "key without certificate, gRPC disabled", args: []string{"--grpc-bind-address=", "--grpc-tls-key-file=tls.key"}, want: "go together"},
		{name: "negative retention", args: []string{"--grpc-bind-address=", "--ended-lease-retention=-1h"}, want: "--ended-lease-retention -1h0m0s is negative"},
		{name: "ended leases kept", args: []string{"--grpc-bind-address=", "--ended-lease-retention=0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := DefaultOptions()
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			opts.AddFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := opts.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestGRPCFlags(t *testing.T) {
	opts := DefaultOptions()
	if opts.GRPCBindAddress != DefaultGRPCBindAddress {
		t.Errorf("default bind address %q, want %q", opts.GRPCBindAddress, DefaultGRPCBindAddress)
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	opts.AddFlags(fs)
	if err := fs.Parse([]string{
		"--grpc-bind-address=127.0.0.1:1234", "--grpc-tls-cert-file=/c", "--grpc-tls-key-file=/k",
		"--auth-config-file=/auth.yaml", "--routers-config-file=/routers.yaml", "--grpc-endpoint=127.0.0.1:1234",
	}); err != nil {
		t.Fatal(err)
	}
	want := [...]string{"127.0.0.1:1234", "/c", "/k", "/auth.yaml", "/routers.yaml", "127.0.0.1:1234"}
	got := [...]string{opts.GRPCBindAddress, opts.GRPCTLSCertFile, opts.GRPCTLSKeyFile, opts.AuthConfigFile, opts.RoutersConfigFile, opts.GRPCEndpoint}
	if got != want {
		t.Errorf("parsed %v, want %v", got, want)
	}
}
