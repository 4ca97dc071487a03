package lease

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/accesspolicy"
	"jumpstarter.dev/service/pkg/virtualnode"
)

// verdict is what the exporters of the namespace say about a waiting lease.
type verdict struct {
	// unsatisfiable is set (with reason and message) when no exporter can ever serve it.
	unsatisfiable bool
	reason        string
	message       string
	// access is what the access policies decide for the lease, when it can be served.
	access accesspolicy.Decision
}

// judge looks at the exporters of the lease's namespace: can any of them ever serve the lease
// (one that matches, is enabled, and that the access policies open to its client), and if so,
// why is it still waiting (offline vs. all held).
func judge(lease *jumpstarterv1alpha1.Lease, exporters []jumpstarterv1alpha1.Exporter, access accesspolicy.Access, now time.Time) verdict {
	target := describeTarget(lease)
	if ref := lease.Spec.ExporterRef; ref != nil {
		var pinned *jumpstarterv1alpha1.Exporter
		for i := range exporters {
			if exporters[i].Name == ref.Name {
				pinned = &exporters[i]
			}
		}
		switch {
		case pinned == nil:
			return verdict{unsatisfiable: true, reason: jumpstarterv1alpha1.LeaseReasonExporterNotFound,
				message: fmt.Sprintf("exporter %q does not exist in namespace %s", ref.Name, lease.Namespace)}
		case !asSelector(lease).Matches(labels.Set(pinned.Labels)):
			return verdict{unsatisfiable: true, reason: jumpstarterv1alpha1.LeaseReasonSelectorMismatch,
				message: fmt.Sprintf("exporter %q does not match selector %s", ref.Name, selectorString(lease))}
		case !pinned.IsEnabled() && !lease.Spec.AllowDisabled:
			return verdict{unsatisfiable: true, reason: jumpstarterv1alpha1.LeaseReasonExporterDisabled,
				message: fmt.Sprintf("exporter %q is disabled", ref.Name)}
		}
		exporters = []jumpstarterv1alpha1.Exporter{*pinned}
	}

	sel := asSelector(lease)
	d := lease.RequestedDuration()
	matching, online := 0, 0
	var candidates, approved []labels.Set
	for i := range exporters {
		e := &exporters[i]
		if !sel.Matches(labels.Set(e.Labels)) {
			continue
		}
		matching++
		if !e.IsEnabled() && !lease.Spec.AllowDisabled {
			continue
		}
		candidates = append(candidates, e.Labels)
		if _, ok := access.Best(e.Labels, d); !ok {
			continue
		}
		approved = append(approved, e.Labels)
		if virtualnode.IsOnline(e, now) {
			online++
		}
	}
	decision, ok := access.Decide(approved, d)
	switch {
	case matching == 0:
		return verdict{unsatisfiable: true, reason: jumpstarterv1alpha1.LeaseReasonNoMatchingExporter,
			message: fmt.Sprintf("no exporter in namespace %s matches %s", lease.Namespace, target)}
	case len(candidates) == 0:
		return verdict{unsatisfiable: true, reason: jumpstarterv1alpha1.LeaseReasonAllDisabled,
			message: fmt.Sprintf("all %d exporters matching %s are disabled", matching, target)}
	case !ok:
		return verdict{unsatisfiable: true, reason: jumpstarterv1alpha1.LeaseReasonNoAccess,
			message: noAccessMessage(lease, access, candidates, target)}
	case online == 0:
		return verdict{reason: jumpstarterv1alpha1.LeaseReasonOffline, access: decision,
			message: fmt.Sprintf("waiting for an exporter matching %s: none of the %d is online", target, len(approved))}
	}
	return verdict{reason: jumpstarterv1alpha1.LeaseReasonNotAvailable, access: decision,
		message: fmt.Sprintf("waiting for an exporter matching %s: all %d online are leased", target, online)}
}
