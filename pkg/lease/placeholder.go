package lease

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/accesspolicy"
)

const (
	placeholderPrefix = "lease-"
	// PlaceholderImage is never pulled (no kubelet runs on a virtual node); it names what the
	// container stands for in kubectl output.
	PlaceholderImage     = "registry.k8s.io/pause:3.10"
	placeholderContainer = "lease"
	maxPodNameLength     = 253
)

// PlaceholderName is the deterministic name of a lease's placeholder pod, so a restarted
// controller finds the pod its predecessor created.
func PlaceholderName(leaseName string) string {
	name := placeholderPrefix + leaseName
	if len(name) <= maxPodNameLength {
		return name
	}
	sum := sha256.Sum256([]byte(leaseName))
	suffix := hex.EncodeToString(sum[:8])
	return name[:maxPodNameLength-len(suffix)-1] + "-" + suffix
}

// placeholderTolerations: our own taint, and the node lifecycle's taints without a time limit.
// An exporter that drops offline mid-lease keeps its lease (the board comes back with the
// exporter), and whether a node is fit for a new grant is the scheduler plugin's call.
func placeholderTolerations() []corev1.Toleration {
	tolerations := []corev1.Toleration{{
		Key: jumpstarterv1alpha1.TaintExporterKey, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule,
	}}
	for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
		for _, effect := range []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute} {
			tolerations = append(tolerations, corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: effect})
		}
	}
	return tolerations
}

// nodeAffinity translates the lease's selector (all operators) and exporterRef into required
// node affinity. The namespace term keeps a lease to the exporters of its own namespace. Under
// access policies, the exporters are further those one of the exporter selectors matches (one
// node selector term each; terms are ORed).
func nodeAffinity(lease *jumpstarterv1alpha1.Lease, exporterSelectors []metav1.LabelSelector) *corev1.Affinity {
	reqs := []corev1.NodeSelectorRequirement{{
		Key: jumpstarterv1alpha1.LabelExporterNamespace, Operator: corev1.NodeSelectorOpIn, Values: []string{lease.Namespace},
	}}
	if lease.Spec.ExporterRef != nil {
		reqs = append(reqs, corev1.NodeSelectorRequirement{
			Key: jumpstarterv1alpha1.LabelExporterName, Operator: corev1.NodeSelectorOpIn, Values: []string{lease.Spec.ExporterRef.Name},
		})
	}
	reqs = appendRequirements(reqs, &lease.Spec.Selector)
	terms := []corev1.NodeSelectorTerm{{MatchExpressions: reqs}}
	if exporterSelectors != nil {
		terms = terms[:0]
		for i := range exporterSelectors {
			terms = append(terms, corev1.NodeSelectorTerm{
				MatchExpressions: appendRequirements(slices.Clone(reqs), &exporterSelectors[i]),
			})
		}
	}
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms},
	}}
}

// appendRequirements adds a label selector's terms as node selector requirements: the
// operators In, NotIn, Exists and DoesNotExist mean the same on both.
func appendRequirements(reqs []corev1.NodeSelectorRequirement, sel *metav1.LabelSelector) []corev1.NodeSelectorRequirement {
	for _, key := range sortedKeys(sel.MatchLabels) {
		reqs = append(reqs, corev1.NodeSelectorRequirement{
			Key: key, Operator: corev1.NodeSelectorOpIn, Values: []string{sel.MatchLabels[key]},
		})
	}
	for _, expr := range sel.MatchExpressions {
		reqs = append(reqs, corev1.NodeSelectorRequirement{
			Key: expr.Key, Operator: corev1.NodeSelectorOperator(expr.Operator), Values: append([]string(nil), expr.Values...),
		})
	}
	return reqs
}

// newPlaceholder builds the pod that stands for the lease in the scheduler's queue, with the
// priority, spot access and exporters the access policies decided.
func newPlaceholder(lease *jumpstarterv1alpha1.Lease, access accesspolicy.Decision) *corev1.Pod {
	one := resource.MustParse("1")
	exporter := corev1.ResourceName(jumpstarterv1alpha1.ResourceExporter)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      PlaceholderName(lease.Name),
			Namespace: lease.Namespace,
			Labels: map[string]string{
				jumpstarterv1alpha1.LabelLeaseName: lease.Name,
				"app.kubernetes.io/managed-by":     "jumpstarter-controller",
				"app.kubernetes.io/component":      "lease-placeholder",
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         jumpstarterv1alpha1.GroupVersion.String(),
				Kind:               "Lease",
				Name:               lease.Name,
				UID:                lease.UID,
				Controller:         ptr.To(true),
				BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: corev1.PodSpec{
			SchedulerName: jumpstarterv1alpha1.SchedulerName,
			Containers: []corev1.Container{{
				Name:  placeholderContainer,
				Image: PlaceholderImage,
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{exporter: one},
					Limits:   corev1.ResourceList{exporter: one},
				},
			}},
			Tolerations:                   placeholderTolerations(),
			Affinity:                      nodeAffinity(lease, access.ExporterSelectors),
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To(int64(0)),
			AutomountServiceAccountToken:  ptr.To(false),
			EnableServiceLinks:            ptr.To(false),
		},
	}
	if lease.Spec.AllowDisabled {
		pod.Annotations = map[string]string{jumpstarterv1alpha1.AnnotationAllowDisabled: "true"}
	}
	// Always a class of ours, priority 0 included: a cluster's globalDefault PriorityClass
	// would otherwise give the leases without policies its value, above or below the others.
	pod.Spec.PriorityClassName = PriorityClassName(access.Priority)
	if access.Spot {
		pod.Labels[jumpstarterv1alpha1.LabelSpotAccess] = "true"
	}
	return pod
}

// PriorityClassName is the PriorityClass that carries a lease priority: the Priority admission
// plugin forbids setting spec.priority directly.
func PriorityClassName(priority int32) string {
	return fmt.Sprintf("jumpstarter-priority-%d", priority)
}
