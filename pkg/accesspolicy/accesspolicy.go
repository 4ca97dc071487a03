package accesspolicy

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// Rule is one policy rule that applies to a client.
type Rule struct {
	// Policy and Index name the rule: spec.policies[Index] of the ExporterAccessPolicy Policy.
	Policy string
	Index  int
	// ExporterSelector is the policy's exporter selector, for the placeholder's node affinity.
	ExporterSelector metav1.LabelSelector
	Priority         int32
	Spot             bool
	// MaximumDuration caps the leases the rule approves; 0 means no cap.
	MaximumDuration time.Duration

	exporters labels.Selector
}

// String names the rule the way an admin finds it in the policy.
func (r Rule) String() string {
	return fmt.Sprintf("exporteraccesspolicy %s spec.policies[%d]", r.Policy, r.Index)
}

// approves: the rule opens an exporter with these labels to a lease of duration d.
func (r Rule) approves(exporter labels.Set, d time.Duration) bool {
	return r.exporters.Matches(exporter) && (r.MaximumDuration == 0 || d <= r.MaximumDuration)
}

// better: a rule without spot access beats a spot one, then the higher priority wins.
func better(a, b Rule) bool {
	if a.Spot != b.Spot {
		return !a.Spot
	}
	return a.Priority > b.Priority
}

// Access is what the access policies of a namespace allow one client.
type Access struct {
	// Restricted is set when the namespace has policies: then only Rules open exporters.
	Restricted bool
	Rules      []Rule
}

// ForClient collects the rules of policies that apply to a client with these labels. A
// policy or rule with a selector that does not parse is left out, so it opens nothing, and
// named in the returned error; the other rules still apply.
func ForClient(policies []jumpstarterv1alpha1.ExporterAccessPolicy, client labels.Set) (Access, error) {
	access := Access{Restricted: len(policies) > 0}
	var errs []error
	for i := range policies {
		p := &policies[i]
		exporters, err := metav1.LabelSelectorAsSelector(&p.Spec.ExporterSelector)
		if err != nil {
			errs = append(errs, fmt.Errorf("exporteraccesspolicy %s: spec.exporterSelector: %w", p.Name, err))
			continue
		}
		for j, rule := range p.Spec.Policies {
			matches, err := clientMatches(rule.From, client)
			if err != nil {
				errs = append(errs, fmt.Errorf("exporteraccesspolicy %s: spec.policies[%d].%w", p.Name, j, err))
				continue
			}
			if !matches {
				continue
			}
			r := Rule{
				Policy: p.Name, Index: j, ExporterSelector: p.Spec.ExporterSelector,
				Priority: int32(rule.Priority), Spot: rule.SpotAccess, exporters: exporters,
			}
			if rule.MaximumDuration != nil {
				r.MaximumDuration = rule.MaximumDuration.Duration
			}
			access.Rules = append(access.Rules, r)
		}
	}
	return access, errors.Join(errs...)
}

// clientMatches: one of the rule's from entries selects the client. A rule without any
// selects nobody.
func clientMatches(from []jumpstarterv1alpha1.From, client labels.Set) (bool, error) {
	for k := range from {
		sel, err := metav1.LabelSelectorAsSelector(&from[k].ClientSelector)
		if err != nil {
			return false, fmt.Errorf("from[%d].clientSelector: %w", k, err)
		}
		if sel.Matches(client) {
			return true, nil
		}
	}
	return false, nil
}

// Best is the best rule that opens an exporter with these labels to a lease of duration d.
// Without policies every exporter is open, at priority 0 (ok, zero Rule).
func (a Access) Best(exporter labels.Set, d time.Duration) (best Rule, ok bool) {
	if !a.Restricted {
		return Rule{}, true
	}
	for _, r := range a.Rules {
		if r.approves(exporter, d) && (!ok || better(r, best)) {
			best, ok = r, true
		}
	}
	return best, ok
}

// TooShort names the rules that would open the exporter to a shorter lease than d, for a
// message that tells the user why they have no access.
func (a Access) TooShort(exporter labels.Set, d time.Duration) []Rule {
	var rules []Rule
	for _, r := range a.Rules {
		if r.exporters.Matches(exporter) && r.MaximumDuration != 0 && d > r.MaximumDuration {
			rules = append(rules, r)
		}
	}
	return rules
}

// Decision is what the policies make of one lease, given the exporters it selects.
type Decision struct {
	Priority int32
	Spot     bool
	// ExporterSelectors: the lease may have an exporter that one of these matches. Nil when
	// the namespace has no policies: then every exporter it selects.
	ExporterSelectors []metav1.LabelSelector
}

// Decide makes the decision for a lease of duration d among candidates, the labels of the
// enabled exporters it selects. ok is false when the policies open none of them to the client.
func (a Access) Decide(candidates []labels.Set, d time.Duration) (decision Decision, ok bool) {
	if !a.Restricted {
		return Decision{}, len(candidates) > 0
	}
	// The best rule over all candidates says which kind of lease this is.
	var best Rule
	for _, c := range candidates {
		if r, found := a.Best(c, d); found && (!ok || better(r, best)) {
			best, ok = r, true
		}
	}
	if !ok {
		return Decision{}, false
	}
	decision = Decision{Priority: best.Priority, Spot: best.Spot}
	for _, r := range a.Rules {
		if r.Spot != best.Spot || (r.MaximumDuration != 0 && d > r.MaximumDuration) {
			continue
		}
		if !slices.ContainsFunc(decision.ExporterSelectors, func(s metav1.LabelSelector) bool {
			return equality.Semantic.DeepEqual(s, r.ExporterSelector)
		}) {
			decision.ExporterSelectors = append(decision.ExporterSelectors, r.ExporterSelector)
		}
	}
	return decision, true
}
