package leaseapi

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// TagLabelPrefix prefixes a tag's key in the lease's labels (upstream name), so that
// tag_filter is a label selector too.
const TagLabelPrefix = "metadata.jumpstarter.dev/"

// LeaseLabels are the labels a lease is listed by (wire contract §3.5): the match labels of
// its selector, and TagLabelPrefix+key=value for each tag. Selector labels that would pose as
// a tag or as the ended label are left out. The lease controller adds the ended label later.
func LeaseLabels(sel *metav1.LabelSelector, tags map[string]string) map[string]string {
	out := map[string]string{}
	if sel != nil {
		for k, v := range sel.MatchLabels {
			if strings.HasPrefix(k, TagLabelPrefix) || k == jumpstarterv1alpha1.LabelLeaseEnded {
				continue
			}
			out[k] = v
		}
	}
	for k, v := range tags {
		out[TagLabelPrefix+k] = v
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
