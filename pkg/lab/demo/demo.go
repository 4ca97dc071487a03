package demo

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"jumpstarter.dev/service/apis/v1alpha1"
)

const (
	// Namespace holds every demo object.
	Namespace = "lab"
	// ClientName is the demo Client; the sample leases belong to it.
	ClientName = "demo"
	// FieldManager applies the demo objects and the simulated exporter status.
	FieldManager = "jumpstarter-lab-demo"
	// leaseDuration of the sample leases.
	leaseDuration = 10 * time.Minute
	// serviceAccountTimeout bounds the wait for the namespace's default ServiceAccount.
	serviceAccountTimeout = time.Minute
	serviceAccountPoll    = 200 * time.Millisecond
)

// Exporters are the demo exporters and their labels.
var Exporters = map[string]map[string]string{
	"rpi4-01":   {"board": "rpi4", "site": "lab1"},
	"rpi4-02":   {"board": "rpi4", "site": "lab1"},
	"jetson-01": {"board": "jetson"},
}

// LeaseNames are the sample leases; each asks for a board=rpi4 exporter. There are two such
// exporters, so the third lease waits in the queue until one of the first two ends.
var LeaseNames = []string{"demo-rpi4-a", "demo-rpi4-b", "demo-rpi4-queued"}

var (
	namespaceGVR      = corev1.SchemeGroupVersion.WithResource("namespaces")
	serviceAccountGVR = corev1.SchemeGroupVersion.WithResource("serviceaccounts")
	exporterGVR       = v1alpha1.GroupVersion.WithResource("exporters")
	clientGVR         = v1alpha1.GroupVersion.WithResource("clients")
	leaseGVR          = v1alpha1.GroupVersion.WithResource("leases")
)

// Seed creates the demo objects (server-side apply, so running it again is harmless): the
// namespace, the exporters with a first heartbeat, the client, then the leases.
func Seed(ctx context.Context, cfg *rest.Config) error {
	logger := klog.FromContext(ctx)
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("seed demo: %w", err)
	}
	ns := &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: Namespace},
	}
	if err := apply(ctx, dyn, namespaceGVR, ns); err != nil {
		return fmt.Errorf("seed demo: %w", err)
	}
	for _, name := range exporterNames() {
		e := &v1alpha1.Exporter{
			TypeMeta:   typeMeta("Exporter"),
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Labels: Exporters[name]},
		}
		if err := apply(ctx, dyn, exporterGVR, e); err != nil {
			return fmt.Errorf("seed demo: %w", err)
		}
	}
	if err := Beat(ctx, cfg); err != nil {
		return fmt.Errorf("seed demo: %w", err)
	}
	// Placeholder pods of the leases need the namespace's default ServiceAccount, which
	// kube-controller-manager creates a few seconds after the namespace.
	if err := waitDefaultServiceAccount(ctx, dyn); err != nil {
		return fmt.Errorf("seed demo: %w", err)
	}
	c := &v1alpha1.Client{
		TypeMeta:   typeMeta("Client"),
		ObjectMeta: metav1.ObjectMeta{Name: ClientName, Namespace: Namespace},
	}
	if err := apply(ctx, dyn, clientGVR, c); err != nil {
		return fmt.Errorf("seed demo: %w", err)
	}
	for _, name := range LeaseNames {
		l := &v1alpha1.Lease{
			TypeMeta:   typeMeta("Lease"),
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace},
			Spec: v1alpha1.LeaseSpec{
				ClientRef: corev1.LocalObjectReference{Name: ClientName},
				Selector:  metav1.LabelSelector{MatchLabels: map[string]string{"board": "rpi4"}},
				Duration:  &metav1.Duration{Duration: leaseDuration},
			},
		}
		if err := apply(ctx, dyn, leaseGVR, l); err != nil {
			return fmt.Errorf("seed demo: %w", err)
		}
	}
	logger.Info("Demo objects created", "namespace", Namespace, "exporters", len(Exporters), "leases", len(LeaseNames))
	return nil
}

// waitDefaultServiceAccount waits until the demo namespace has its default ServiceAccount.
func waitDefaultServiceAccount(ctx context.Context, dyn dynamic.Interface) error {
	err := wait.PollUntilContextTimeout(ctx, serviceAccountPoll, serviceAccountTimeout, true, func(ctx context.Context) (bool, error) {
		_, err := dyn.Resource(serviceAccountGVR).Namespace(Namespace).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		return fmt.Errorf("wait for ServiceAccount %s/default (is kube-controller-manager running?): %w", Namespace, err)
	}
	return nil
}

func typeMeta(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: kind}
}

// exporterNames returns the demo exporter names in a stable order.
func exporterNames() []string { return []string{"rpi4-01", "rpi4-02", "jetson-01"} }

// toApplyObject converts a typed object into what server-side apply should own: without the
// zero creation timestamp and without the top-level fields in drop (the status for a spec
// apply, the spec for a status apply).
func toApplyObject(obj runtime.Object, drop string) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, drop)
	return u, nil
}

func apply(ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, obj runtime.Object) error {
	u, err := toApplyObject(obj, "status")
	if err != nil {
		return err
	}
	var ri dynamic.ResourceInterface = dyn.Resource(gvr)
	if ns := u.GetNamespace(); ns != "" {
		ri = dyn.Resource(gvr).Namespace(ns)
	}
	if _, err := ri.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		return fmt.Errorf("apply %s %s: %w", u.GetKind(), klog.KObj(u), err)
	}
	return nil
}
