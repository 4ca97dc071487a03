// Package virtualnode turns every Exporter into a cluster-scoped virtual Node that carries one
// unit of the jumpstarter.dev/exporter extended resource and the exporter's labels, and keeps
// that node alive the way virtual-kubelet does: a Ready condition that follows the exporter's
// online state and spec.enabled, and node Lease renewals in kube-node-lease while the exporter
// is online, so the node lifecycle controller never taints an online exporter's node and does
// mark an offline one. The exporter's status.leaseRef names the lease that holds it, as the
// leases' status says (granted it, not ended), updated half a second after a grant or an end so
// that a hand-over is one write. NewExporterCollector counts exporters by state for Prometheus.
package virtualnode
