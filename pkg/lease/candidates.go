package lease

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/virtualnode"
)

// verdict is what the exporters of the namespace say about a waiting lease.
type verdict struct {
	// unsatisfiable is set (with reason and message) when no exporter can ever serve it.
	unsatisfiable bool
	reason        string
	message       string
}

// judge looks at the exporters of the lease's namespace: can any of them ever serve the lease,
// and if so, why is it still waiting (offline vs. all held).
func judge(lease *jumpstarterv1alpha1.Lease, exporters []jumpstarterv1alpha1.Exporter, now time.Time) verdict {
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
			return verdict{true, jumpstarterv1alpha1.LeaseReasonExporterNotFound,
				fmt.Sprintf("exporter %q does not exist in namespace %s", ref.Name, lease.Namespace)}
		case !asSelector(lease).Matches(labels.Set(pinned.Labels)):
			return verdict{true, jumpstarterv1alpha1.LeaseReasonSelectorMismatch,
				fmt.Sprintf("exporter %q does not match selector %s", ref.Name, selectorString(lease))}
		case !pinned.IsEnabled() && !lease.Spec.AllowDisabled:
			return verdict{true, jumpstarterv1alpha1.LeaseReasonExporterDisabled,
				fmt.Sprintf("exporter %q is disabled", ref.Name)}
		}
		exporters = []jumpstarterv1alpha1.Exporter{*pinned}
	}

	sel := asSelector(lease)
	matching, usable, online := 0, 0, 0
	for i := range exporters {
		e := &exporters[i]
		if !sel.Matches(labels.Set(e.Labels)) {
			continue
		}
		matching++
		if !e.IsEnabled() && !lease.Spec.AllowDisabled {
			continue
		}
		usable++
		if virtualnode.IsOnline(e, now) {
			online++
		}
	}
	switch {
	case matching == 0:
		return verdict{true, jumpstarterv1alpha1.LeaseReasonNoMatchingExporter,
			fmt.Sprintf("no exporter in namespace %s matches %s", lease.Namespace, target)}
	case usable == 0:
		return verdict{true, jumpstarterv1alpha1.LeaseReasonAllDisabled,
			fmt.Sprintf("all %d exporters matching %s are disabled", matching, target)}
	case online == 0:
		return verdict{false, jumpstarterv1alpha1.LeaseReasonOffline,
			fmt.Sprintf("waiting for an exporter matching %s: none of the %d is online", target, usable)}
	}
	return verdict{false, jumpstarterv1alpha1.LeaseReasonNotAvailable,
		fmt.Sprintf("waiting for an exporter matching %s: all %d online are leased", target, online)}
}
