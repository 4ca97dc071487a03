package lease

import (
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// selectorPath is the field that error messages name.
var selectorPath = field.NewPath("spec", "selector")

// validateSelector checks the selector with the API machinery's own validation, so errors name
// the exact field (spec.selector.matchExpressions[0].operator: Unsupported value ...).
func validateSelector(lease *jumpstarterv1alpha1.Lease) error {
	errs := metav1validation.ValidateLabelSelector(&lease.Spec.Selector, metav1validation.LabelSelectorValidationOptions{}, selectorPath)
	if len(errs) > 0 {
		return errs.ToAggregate()
	}
	if isEmptySelector(&lease.Spec.Selector) && lease.Spec.ExporterRef == nil {
		return field.Required(selectorPath, "one of spec.selector or spec.exporterRef is required")
	}
	return nil
}

func isEmptySelector(s *metav1.LabelSelector) bool {
	return len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
}

// selectorString renders the selector canonically (requirements sorted by key), for messages
// and as the queue key.
func selectorString(lease *jumpstarterv1alpha1.Lease) string {
	sel, err := metav1.LabelSelectorAsSelector(&lease.Spec.Selector)
	if err != nil {
		return "<invalid>"
	}
	if sel.Empty() {
		return "<none>"
	}
	return sel.String()
}

func asSelector(lease *jumpstarterv1alpha1.Lease) labels.Selector {
	sel, err := metav1.LabelSelectorAsSelector(&lease.Spec.Selector)
	if err != nil {
		return labels.Nothing()
	}
	return sel
}

// describeTarget names what the lease asks for, for messages.
func describeTarget(lease *jumpstarterv1alpha1.Lease) string {
	var parts []string
	if lease.Spec.ExporterRef != nil {
		parts = append(parts, "exporter "+lease.Spec.ExporterRef.Name)
	}
	if !isEmptySelector(&lease.Spec.Selector) {
		parts = append(parts, "selector "+selectorString(lease))
	}
	return strings.Join(parts, " with ")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
