package plugin

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	fwk "k8s.io/kube-scheduler/framework"

	jsv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// exporterState is what a node's labels and Ready condition say about the exporter behind it.
type exporterState int

const (
	stateNotExporter exporterState = iota
	stateOffline
	stateDisabled
	stateReady
)

// stateOf reads the exporter state of a node. Ready True is online and enabled; Ready False
// with reason ExporterDisabled is online but disabled; anything else is offline, including
// Ready Unknown (set by the node lifecycle controller) and a missing Ready condition.
func stateOf(node *v1.Node) exporterState {
	if _, ok := node.Labels[jsv1alpha1.LabelExporterName]; !ok {
		return stateNotExporter
	}
	for i := range node.Status.Conditions {
		c := &node.Status.Conditions[i]
		if c.Type != v1.NodeReady {
			continue
		}
		switch {
		case c.Status == v1.ConditionTrue:
			return stateReady
		case c.Status == v1.ConditionFalse && c.Reason == jsv1alpha1.NodeReasonExporterDisabled:
			return stateDisabled
		default:
			return stateOffline
		}
	}
	return stateOffline
}

// checkNode applies the checks that depend on the node alone. It returns nil when the exporter
// is one the pod may be granted, held or not.
func checkNode(pod *v1.Pod, node *v1.Node) *fwk.Status {
	switch stateOf(node) {
	case stateNotExporter:
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonNotExporter)
	case stateOffline:
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonOffline)
	case stateDisabled:
		if !allowsDisabled(pod) {
			return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonDisabled)
		}
	}
	return nil
}

// holderOf returns the placeholder pod, other than pod itself, that the node info counts on
// the node, or nil if there is none. NodeInfo includes assumed pods (bound in the scheduler's
// cache, binding in flight), and the framework adds nominated pods of equal or higher priority
// before it calls Filter, so both hold an exporter too.
func holderOf(pod *v1.Pod, nodeInfo fwk.NodeInfo) *v1.Pod {
	for _, pi := range nodeInfo.GetPods() {
		p := pi.GetPod()
		if p.UID == pod.UID || !isPlaceholder(p) {
			continue
		}
		return p
	}
	return nil
}

// Filter admits a placeholder pod to an exporter's virtual node that is online, enabled (or
// the pod allows disabled exporters), not held by another placeholder and not reserved for a
// lease ahead of the pod (reserve.go). Other pods pass.
//
// A held exporter is Unschedulable when the holder is a spot lease of lower priority, so that
// preemption can free it (the dry run then filters the exporter without its holder, and a reservation still
// turns the pod away). Otherwise held and reserved exporters answer Pending: the lease waits for
// an event (a release, the woken lease's grant) that no eviction may bring about, so
// DefaultPreemption skips the node, and kube-scheduler retries the pod the moment this plugin's
// queueing hint wakes it instead of after its back-off (see "Waiting without back-off" in doc.go).
func (pl *Exporter) Filter(_ context.Context, state fwk.CycleState, pod *v1.Pod, nodeInfo fwk.NodeInfo) *fwk.Status {
	if !isPlaceholder(pod) {
		return nil
	}
	node := nodeInfo.Node()
	if node == nil {
		return fwk.NewStatus(fwk.Error, "node not found")
	}
	if status := checkNode(pod, node); status != nil {
		return status
	}
	if holder := holderOf(pod, nodeInfo); holder != nil {
		code := fwk.Pending
		if preemptionFloor(holder) < corev1helpers.PodPriority(pod) {
			code = fwk.Unschedulable
		}
		return fwk.NewStatus(code, ReasonHeldPrefix+leaseOf(holder))
	}
	if lease := pl.reservedFor(state, pod, node.Name); lease != "" {
		return fwk.NewStatus(fwk.Pending, fmt.Sprintf(ReasonReservedFormat, lease))
	}
	return nil
}

// nodeAdmits tells whether the pod's Filter and required node affinity (nodeSelector included)
// both accept the node, leaving out whether it is held. The queueing hints use it.
func nodeAdmits(pod *v1.Pod, node *v1.Node) (bool, error) {
	if checkNode(pod, node) != nil {
		return false, nil
	}
	return nodeaffinity.GetRequiredNodeAffinity(pod).Match(node)
}
