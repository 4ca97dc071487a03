package virtualnode

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// Capacity of a virtual node. One exporter unit is the point; the pod slots leave room for
// stray pods (DaemonSets that tolerate everything), which the node agent refuses.
const (
	nodePodCapacity = "8"
	nodeCPUCapacity = "1"
	nodeMemCapacity = "1Gi"
)

// exporterTaint keeps ordinary pods off virtual nodes; placeholders tolerate it.
var exporterTaint = corev1.Taint{Key: jumpstarterv1alpha1.TaintExporterKey, Effect: corev1.TaintEffectNoSchedule}

// isSystemLabel tells labels that Kubernetes components own and we must leave alone.
func isSystemLabel(key string) bool {
	prefix, _, found := strings.Cut(key, "/")
	return found && (prefix == "kubernetes.io" || strings.HasSuffix(prefix, ".kubernetes.io"))
}

// desiredLabels are the exporter's labels, the two that name it, and the hostname label that
// kubectl and the scheduler expect of every node. Reserved keys win over the exporter's.
func desiredLabels(exporter *jumpstarterv1alpha1.Exporter, nodeName string) map[string]string {
	labels := make(map[string]string, len(exporter.Labels)+3)
	for k, v := range exporter.Labels {
		if isSystemLabel(k) {
			continue
		}
		labels[k] = v
	}
	labels[jumpstarterv1alpha1.LabelExporterNamespace] = exporter.Namespace
	labels[jumpstarterv1alpha1.LabelExporterName] = exporter.Name
	labels[corev1.LabelHostname] = nodeName
	return labels
}

// syncLabels makes node's labels the desired ones, keeping system labels set by others.
// It reports whether anything changed.
func syncLabels(node *corev1.Node, desired map[string]string) bool {
	changed := false
	if node.Labels == nil {
		node.Labels = map[string]string{}
	}
	for k := range node.Labels {
		if _, ok := desired[k]; !ok && !isSystemLabel(k) {
			delete(node.Labels, k)
			changed = true
		}
	}
	for k, v := range desired {
		if node.Labels[k] != v {
			node.Labels[k] = v
			changed = true
		}
	}
	return changed
}

// ensureTaint adds the exporter taint without touching taints that the node lifecycle
// controller manages (not-ready, unreachable). It reports whether anything changed.
func ensureTaint(node *corev1.Node) bool {
	for _, t := range node.Spec.Taints {
		if t.Key == exporterTaint.Key && t.Effect == exporterTaint.Effect {
			return false
		}
	}
	node.Spec.Taints = append(node.Spec.Taints, exporterTaint)
	return true
}

func nodeCapacity() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceName(jumpstarterv1alpha1.ResourceExporter): resource.MustParse("1"),
		corev1.ResourcePods:   resource.MustParse(nodePodCapacity),
		corev1.ResourceCPU:    resource.MustParse(nodeCPUCapacity),
		corev1.ResourceMemory: resource.MustParse(nodeMemCapacity),
	}
}

// readyCondition is the node's Ready condition for an exporter's state.
func readyCondition(online, enabled bool) (corev1.ConditionStatus, string, string) {
	switch {
	case online && enabled:
		return corev1.ConditionTrue, jumpstarterv1alpha1.NodeReasonExporterReady, "exporter is online and enabled"
	case online:
		return corev1.ConditionFalse, jumpstarterv1alpha1.NodeReasonExporterDisabled, "exporter is online but spec.enabled is false"
	default:
		return corev1.ConditionFalse, jumpstarterv1alpha1.NodeReasonExporterOffline, "exporter is offline"
	}
}

// syncStatus sets capacity, the Ready condition and the ExporterOnline condition. It reports
// whether anything changed.
func syncStatus(node *corev1.Node, online, enabled bool, now time.Time) bool {
	changed := false
	capacity := nodeCapacity()
	for _, list := range []*corev1.ResourceList{&node.Status.Capacity, &node.Status.Allocatable} {
		if !resourceListEqual(*list, capacity) {
			*list = capacity.DeepCopy()
			changed = true
		}
	}
	status, reason, message := readyCondition(online, enabled)
	// For an offline exporter any non-True Ready stands: the node lifecycle controller turns it
	// Unknown once heartbeats stop, and fighting it would flip it back and forth.
	current := findNodeCondition(node, corev1.NodeReady)
	lifecycleVerdictStands := !online && current != nil &&
		current.Status != corev1.ConditionTrue && current.Reason != jumpstarterv1alpha1.NodeReasonExporterDisabled
	if !lifecycleVerdictStands {
		changed = setNodeCondition(node, corev1.NodeReady, status, reason, message, now) || changed
	}
	onlineStatus, onlineReason := corev1.ConditionFalse, jumpstarterv1alpha1.NodeReasonExporterOffline
	if online {
		onlineStatus, onlineReason = corev1.ConditionTrue, "ExporterOnline"
	}
	return setNodeCondition(node, jumpstarterv1alpha1.NodeConditionExporterOnline, onlineStatus, onlineReason, "", now) || changed
}

func findNodeCondition(node *corev1.Node, condType corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == condType {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

// setNodeCondition updates or appends a condition; it reports whether anything changed.
func setNodeCondition(node *corev1.Node, condType corev1.NodeConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) bool {
	current := findNodeCondition(node, condType)
	if current == nil {
		node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{
			Type: condType, Status: status, Reason: reason, Message: message,
			LastHeartbeatTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now),
		})
		return true
	}
	if current.Status == status && current.Reason == reason {
		return false
	}
	if current.Status != status {
		current.LastTransitionTime = metav1.NewTime(now)
	}
	current.Status, current.Reason, current.Message = status, reason, message
	current.LastHeartbeatTime = metav1.NewTime(now)
	return true
}

func resourceListEqual(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for name, qa := range a {
		qb, ok := b[name]
		if !ok || qa.Cmp(qb) != 0 {
			return false
		}
	}
	return true
}
