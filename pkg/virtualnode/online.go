package virtualnode

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// OnlineTimeout is how long an exporter stays online after its last heartbeat (upstream: 60 s).
const OnlineTimeout = 60 * time.Second

// IsOnline reports whether the exporter can serve a lease now: registered, online by its own
// account, heard from within OnlineTimeout, and not reporting Offline.
func IsOnline(exporter *jumpstarterv1alpha1.Exporter, now time.Time) bool {
	if !meta.IsStatusConditionTrue(exporter.Status.Conditions, jumpstarterv1alpha1.ExporterConditionRegistered) ||
		!meta.IsStatusConditionTrue(exporter.Status.Conditions, jumpstarterv1alpha1.ExporterConditionOnline) {
		return false
	}
	if exporter.Status.ExporterStatusValue == jumpstarterv1alpha1.ExporterStatusOffline {
		return false
	}
	return !IsStale(exporter, now)
}

// IsStale reports whether the exporter's last heartbeat is older than OnlineTimeout.
func IsStale(exporter *jumpstarterv1alpha1.Exporter, now time.Time) bool {
	return exporter.Status.LastSeen == nil || now.Sub(exporter.Status.LastSeen.Time) >= OnlineTimeout
}

// staleAt is when a fresh exporter turns stale, for RequeueAfter.
func staleAt(exporter *jumpstarterv1alpha1.Exporter) time.Time {
	if exporter.Status.LastSeen == nil {
		return time.Time{}
	}
	return exporter.Status.LastSeen.Add(OnlineTimeout)
}

// markStale records on the exporter that its heartbeat stopped, as upstream does, so that
// kubectl and the API show why it is offline.
func markStale(exporter *jumpstarterv1alpha1.Exporter) {
	meta.SetStatusCondition(&exporter.Status.Conditions, metav1.Condition{
		Type:               jumpstarterv1alpha1.ExporterConditionOnline,
		Status:             metav1.ConditionFalse,
		Reason:             "Stale",
		Message:            "Connection lost - last seen more than 1 minute ago",
		ObservedGeneration: exporter.Generation,
	})
	exporter.Status.ExporterStatusValue = jumpstarterv1alpha1.ExporterStatusOffline
	exporter.Status.StatusMessage = "Connection lost - last seen more than 1 minute ago"
}
