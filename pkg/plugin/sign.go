package plugin

import (
	"context"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
)

// reasonNotBatchable is why SignPod refuses to sign a placeholder pod.
const reasonNotBatchable = "placeholder pods are not batched: reservations depend on the pod's place in the queue"

// SignPod returns this plugin's part of the pod signature. Without SignPlugin kube-scheduler
// turns opportunistic batching off for the whole profile; with it, batching stays on for pods
// that are not placeholders, for which this plugin's PreFilter skips and Score gives every
// node the same score, so they need no fragment.
//
// Placeholder pods are not signed, which keeps them out of batching. Equal signatures promise
// equal Filter results on the same nodes, and kube-scheduler hands the next pod of the same
// signature the best node left over from the previous pod's filtering and scoring. Two
// placeholders with the same selector no longer get the same results: an exporter reserved for
// a woken lease (reserve.go) is rejected for leases behind it but not for that lease or leases
// ahead of it. The batch re-runs Filter on the node it hints, so it could not hand a reserved
// exporter to a lease behind its lease; but it could hint the woken lease another exporter,
// because the previous lease never saw its reserved one, and that exporter would then sit
// idle until the next lease is woken for it.
func (pl *Exporter) SignPod(_ context.Context, pod *v1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	if isPlaceholder(pod) {
		return nil, fwk.NewStatus(fwk.Unschedulable, reasonNotBatchable)
	}
	return nil, nil
}
