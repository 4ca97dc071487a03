// Package e2e holds the end-to-end tests: each suite starts a local lab (etcd,
// kube-apiserver, kube-controller-manager, our scheduler and controller as real processes),
// drives it through the Kubernetes API with sigs.k8s.io/e2e-framework, and stops it.
package e2e
