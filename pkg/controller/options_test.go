package controller

import (
	"testing"

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
