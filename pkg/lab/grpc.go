package lab

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"jumpstarter.dev/service/pkg/clientconfig"
	"jumpstarter.dev/service/pkg/lab/demo"
)

// ControllerGRPCSANs are the names in the certificate of the controller's gRPC listener: the
// endpoint the lab advertises is 127.0.0.1:PORT.
var ControllerGRPCSANs = []string{localhost, "localhost"}

// RouterSANs are the names in the router's certificate; it is advertised as 127.0.0.1:PORT.
var RouterSANs = []string{localhost, "localhost"}

// pki/ stems of the controller's and the router's serving certificates.
const (
	controllerGRPCCert = "controller-grpc"
	routerCert         = "router"
)

// Roles of ports in ComponentState.Ports.
const (
	portGRPC    = "grpc"
	portRouter  = "router"
	portMetrics = "metrics"
)

// RouterEndpoint is the host:port of the router (gRPC on TCP, QUIC on UDP) that the controller
// hands out; empty when the lab has no router.
func (l *Lab) RouterEndpoint() string {
	return l.endpoint(Router, portRouter)
}

// GRPCEndpoint is the host:port of the controller's gRPC services, as advertised in the
// status of Clients and Exporters; empty when the lab has no controller.
func (l *Lab) GRPCEndpoint() string {
	return l.endpoint(Controller, portGRPC)
}

// MetricsURL is the Prometheus endpoint of our controller or router (Controller, Router);
// empty when the lab has no such component or started it without one.
func (l *Lab) MetricsURL(component string) string {
	if endpoint := l.endpoint(component, portMetrics); endpoint != "" {
		return "http://" + endpoint + "/metrics"
	}
	return ""
}

// endpoint is the host:port a component serves the given role on; empty when the lab has no
// such component or it has no such port.
func (l *Lab) endpoint(component, role string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.state.Component(component)
	if c == nil || c.Ports[role] == 0 {
		return ""
	}
	return hostPort(c.Ports[role])
}

// PublishCA puts the lab CA into namespace as the ConfigMap that `jmpctl admin create` reads
// the tls.ca of config files from (clientconfig.CAConfigMapName). The lab does it for the demo
// namespace; tests that create clients in their own namespaces call it for those.
func (l *Lab) PublishCA(ctx context.Context, namespace string) error {
	cfg := l.RESTConfig()
	if cfg == nil {
		return fmt.Errorf("publish CA into %s: the lab has no kubeconfig", namespace)
	}
	return publishCA(ctx, cfg, l.state.Dir, namespace, false)
}

// publishCA applies the CA ConfigMap, and first the namespace itself when withNamespace.
func publishCA(ctx context.Context, cfg *rest.Config, dir, namespace string, withNamespace bool) error {
	caPEM, err := os.ReadFile(CACertPath(dir))
	if err != nil {
		return fmt.Errorf("publish CA into %s: %w", namespace, err)
	}
	var objs []runtime.Object
	if withNamespace {
		objs = append(objs, &corev1.Namespace{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: namespace},
		})
	}
	objs = append(objs, &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: clientconfig.CAConfigMapName, Namespace: namespace},
		Data:       map[string]string{clientconfig.CAConfigMapKey: string(caPEM)},
	})
	us := make([]*unstructured.Unstructured, 0, len(objs))
	for _, obj := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return fmt.Errorf("publish CA into %s: %w", namespace, err)
		}
		u := &unstructured.Unstructured{Object: m}
		unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
		unstructured.RemoveNestedField(u.Object, "spec")
		unstructured.RemoveNestedField(u.Object, "status")
		us = append(us, u)
	}
	if err := ApplyObjects(ctx, cfg, ApplyOptions{}, us...); err != nil {
		return fmt.Errorf("publish CA into %s: %w", namespace, err)
	}
	return nil
}

// publishDemoCA creates the demo namespace with the CA ConfigMap, so that `jmpctl admin
// create -n lab` finds the CA the way the upstream tool does.
func publishDemoCA(ctx context.Context, cfg *rest.Config, dir string) error {
	return publishCA(ctx, cfg, dir, demo.Namespace, true)
}

// grpcArgs are the controller's gRPC flags: its listener on 127.0.0.1:port with the lab's
// certificate, advertised as is.
func grpcArgs(dir string, port int) []string {
	p := pkiPaths{dir}
	endpoint := hostPort(port)
	return []string{
		"--grpc-bind-address=" + endpoint,
		"--grpc-tls-cert-file=" + p.cert(controllerGRPCCert),
		"--grpc-tls-key-file=" + p.key(controllerGRPCCert),
		"--grpc-endpoint=" + endpoint,
	}
}
