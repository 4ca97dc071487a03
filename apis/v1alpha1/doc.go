// Package v1alpha1 holds the jumpstarter.dev/v1alpha1 API: Client, Exporter, Lease and
// ExporterAccessPolicy, field-compatible with the upstream Jumpstarter CRDs, plus the well-known
// names (labels, annotations, the extended resource, the taint) that tie exporters to virtual
// nodes and leases to placeholder pods.
//
// +kubebuilder:object:generate=true
// +groupName=jumpstarter.dev
package v1alpha1
