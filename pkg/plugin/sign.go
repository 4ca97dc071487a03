package plugin

import (
	"context"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
)

// Signature fragment keys, named after the pod fields they read as the framework's signers.go
// asks. The lease label's value stays out: it differs for every placeholder and would stop
// kube-scheduler from batching any two of them.
const (
	signPlaceholder    = "v1.Pod.Labels.JumpstarterPlaceholder()"
	signAllowsDisabled = "v1.Pod.Annotations.JumpstarterAllowDisabled()"
)

// SignPod returns this plugin's part of the pod signature: two pods with equal fragments get the
// same Filter and Score results on the same nodes. Filter and Score read only whether the pod is
// a placeholder and whether it allows disabled exporters, besides the node. Without SignPlugin
// kube-scheduler turns opportunistic batching off for the whole profile.
func (pl *Exporter) SignPod(_ context.Context, pod *v1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	return []fwk.SignFragment{
		{Key: signPlaceholder, Value: isPlaceholder(pod)},
		{Key: signAllowsDisabled, Value: allowsDisabled(pod)},
	}, nil
}
