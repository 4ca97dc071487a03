package leaseapi

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// MaxSelectorLength bounds a selector, filter or tag_filter string. Real selectors name a few
// labels; the bound keeps an oversized request from reaching the parser, the object or a log.
const MaxSelectorLength = 4096

// Renderings of selectors that have no requirements, or that cannot be rendered.
const (
	SelectorNone    = "<none>"
	SelectorInvalid = "<invalid>"
)

// ParseSelector parses a label-selector string (Kubernetes syntax: k=v, k==v, k!=v,
// k in (a,b), k notin (a,b), k, !k; comma means AND) into the structured selector a Lease
// stores. Equality terms become match labels; != and notin terms on one key merge into one
// NotIn; the result is canonical (expressions sorted, values sorted and unique), so that equal
// selectors compare equal. The > and < operators have no structured form and are refused, as
// are two equality terms with different values on one key, which could never match.
func ParseSelector(s string) (*metav1.LabelSelector, error) {
	reqs, err := labels.ParseToRequirements(s)
	if err != nil {
		return nil, err
	}
	sel := &metav1.LabelSelector{}
	notIn := map[string]sets.Set[string]{}
	for _, r := range reqs {
		key, values := r.Key(), r.ValuesUnsorted()
		switch op := r.Operator(); op {
		case selection.Equals, selection.DoubleEquals:
			if old, ok := sel.MatchLabels[key]; ok && old != values[0] {
				return nil, fmt.Errorf("label %s cannot equal both %q and %q", key, old, values[0])
			}
			if sel.MatchLabels == nil {
				sel.MatchLabels = map[string]string{}
			}
			sel.MatchLabels[key] = values[0]
		case selection.NotEquals, selection.NotIn:
			if notIn[key] == nil {
				notIn[key] = sets.New[string]()
			}
			notIn[key].Insert(values...)
		case selection.In:
			sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{
				Key: key, Operator: metav1.LabelSelectorOpIn, Values: sets.List(sets.New(values...)),
			})
		case selection.Exists:
			sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{Key: key, Operator: metav1.LabelSelectorOpExists})
		case selection.DoesNotExist:
			sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{Key: key, Operator: metav1.LabelSelectorOpDoesNotExist})
		default:
			return nil, fmt.Errorf("operator %q (on %s) is not supported in a lease selector", op, key)
		}
	}
	for key, values := range notIn {
		sel.MatchExpressions = append(sel.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: key, Operator: metav1.LabelSelectorOpNotIn, Values: sets.List(values),
		})
	}
	sel.MatchExpressions = canonicalExpressions(sel.MatchExpressions)
	return sel, nil
}

// canonicalExpressions sorts requirements by key, operator and values and drops duplicates.
func canonicalExpressions(exprs []metav1.LabelSelectorRequirement) []metav1.LabelSelectorRequirement {
	if len(exprs) == 0 {
		return nil
	}
	compare := func(a, b metav1.LabelSelectorRequirement) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Operator, b.Operator), slices.Compare(a.Values, b.Values))
	}
	out := slices.Clone(exprs)
	for i := range out {
		out[i].Values = sets.List(sets.New(out[i].Values...))
		if len(out[i].Values) == 0 {
			out[i].Values = nil
		}
	}
	slices.SortFunc(out, compare)
	return slices.CompactFunc(out, func(a, b metav1.LabelSelectorRequirement) bool { return compare(a, b) == 0 })
}

// FormatSelector renders a structured selector canonically: requirements sorted by key (a
// key's match label first), values sorted, e.g. "a=1,b=2", "k in (x,y)", "!k". A selector
// without requirements renders as "<none>", one that is not valid as "<invalid>". A simple
// "k=v" selector renders as it was written.
func FormatSelector(sel *metav1.LabelSelector) string {
	reqs, err := requirements(sel)
	if err != nil {
		return SelectorInvalid
	}
	if len(reqs) == 0 {
		return SelectorNone
	}
	parts := make([]string, len(reqs))
	for i := range reqs {
		parts[i] = reqs[i].String()
	}
	return strings.Join(parts, ",")
}

var operators = map[metav1.LabelSelectorOperator]selection.Operator{
	metav1.LabelSelectorOpIn:           selection.In,
	metav1.LabelSelectorOpNotIn:        selection.NotIn,
	metav1.LabelSelectorOpExists:       selection.Exists,
	metav1.LabelSelectorOpDoesNotExist: selection.DoesNotExist,
}

func requirements(sel *metav1.LabelSelector) ([]labels.Requirement, error) {
	if sel == nil {
		return nil, nil
	}
	var reqs []labels.Requirement
	for _, key := range slices.Sorted(maps.Keys(sel.MatchLabels)) {
		r, err := labels.NewRequirement(key, selection.Equals, []string{sel.MatchLabels[key]})
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, *r)
	}
	for _, e := range canonicalExpressions(sel.MatchExpressions) {
		op, ok := operators[e.Operator]
		if !ok {
			return nil, fmt.Errorf("operator %q is not a label selector operator", e.Operator)
		}
		r, err := labels.NewRequirement(e.Key, op, e.Values)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, *r)
	}
	slices.SortStableFunc(reqs, func(a, b labels.Requirement) int { return cmp.Compare(a.Key(), b.Key()) })
	return reqs, nil
}

// IsEmptySelector reports whether sel has no requirements (and so matches everything).
func IsEmptySelector(sel *metav1.LabelSelector) bool {
	return sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0)
}

// parseSelectorField parses the selector string of a request field.
func parseSelectorField(fieldName, s string) (*metav1.LabelSelector, error) {
	if len(s) > MaxSelectorLength {
		return nil, invalidArgument(fieldName, "selector of %d bytes is longer than the limit of %d", len(s), MaxSelectorLength)
	}
	sel, err := ParseSelector(s)
	if err != nil {
		return nil, invalidArgument(fieldName, "invalid label selector %s: %v", quote(s), err)
	}
	return sel, nil
}

// ValidateLabelSelector checks a structured selector of a request (the legacy RequestLease):
// its size, then the API machinery's own validation, so the error names the exact field.
func ValidateLabelSelector(fieldName string, sel *metav1.LabelSelector) error {
	size := 0
	for k, v := range sel.MatchLabels {
		size += len(k) + len(v) + 2
	}
	for _, e := range sel.MatchExpressions {
		size += len(e.Key) + len(e.Operator) + 4
		for _, v := range e.Values {
			size += len(v) + 1
		}
	}
	if size > MaxSelectorLength {
		return invalidArgument(fieldName, "selector of about %d bytes is longer than the limit of %d", size, MaxSelectorLength)
	}
	return invalidFields(metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, field.NewPath(fieldName)))
}

// ParseFilter parses a list filter: a label selector in Kubernetes syntax, "" for everything.
func ParseFilter(fieldName, s string) (labels.Selector, error) {
	if len(s) > MaxSelectorLength {
		return nil, invalidArgument(fieldName, "selector of %d bytes is longer than the limit of %d", len(s), MaxSelectorLength)
	}
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, invalidArgument(fieldName, "invalid label selector %s: %v", quote(s), err)
	}
	return sel, nil
}

// ListLeasesSelector is the label selector of a ListLeases request (§3.5): filter over the
// lease labels, tag_filter over the tags (its keys get the tag label prefix), and, when
// onlyActive, no ended label.
func ListLeasesSelector(filter, tagFilter string, onlyActive bool) (labels.Selector, error) {
	sel, err := ParseFilter("filter", filter)
	if err != nil {
		return nil, err
	}
	tags, err := ParseFilter("tag_filter", tagFilter)
	if err != nil {
		return nil, err
	}
	tagReqs, _ := tags.Requirements()
	for _, r := range tagReqs {
		prefixed, err := labels.NewRequirement(TagLabelPrefix+r.Key(), r.Operator(), r.ValuesUnsorted())
		if err != nil {
			return nil, invalidArgument("tag_filter", "tag %s cannot be filtered on: %v", quote(r.Key()), err)
		}
		sel = sel.Add(*prefixed)
	}
	if onlyActive {
		r, err := labels.NewRequirement(jumpstarterv1alpha1.LabelLeaseEnded, selection.DoesNotExist, nil)
		if err != nil {
			return nil, fmt.Errorf("ended-lease requirement: %w", err)
		}
		sel = sel.Add(*r)
	}
	return sel, nil
}
