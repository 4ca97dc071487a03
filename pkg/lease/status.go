package lease

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// outcome is how a lease ends: the condition that says why, and the event that tells people.
type outcome struct {
	condition string
	status    metav1.ConditionStatus
	reason    string
	message   string
	eventType string
}

// setCondition sets a condition; a changed status is stamped with at, the reconciler's clock
// (an ended lease's retention counts from its end condition's stamp).
func setCondition(lease *jumpstarterv1alpha1.Lease, condType string, status metav1.ConditionStatus, reason, message string, at time.Time) {
	meta.SetStatusCondition(&lease.Status.Conditions, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: lease.Generation,
		LastTransitionTime: metav1.NewTime(at),
	})
}

// setWaiting records why the lease waits. Pending is True while it waits; the contract forbids
// Pending=False or Ready=False before a grant, so nothing else is touched.
func setWaiting(lease *jumpstarterv1alpha1.Lease, phase jumpstarterv1alpha1.LeasePhase, reason, message string, position *int32, now time.Time) {
	lease.Status.Phase = phase
	lease.Status.QueuePosition = position
	setCondition(lease, jumpstarterv1alpha1.LeaseConditionPending, metav1.ConditionTrue, reason, message, now)
}

// setGranted records the grant: Ready=True with the exporter, Pending=False.
func setGranted(lease *jumpstarterv1alpha1.Lease, exporter string, now metav1.MicroTime) {
	lease.Status.ExporterRef = &corev1.LocalObjectReference{Name: exporter}
	lease.Status.BeginTime = &now
	lease.Status.Phase = jumpstarterv1alpha1.LeasePhaseActive
	lease.Status.QueuePosition = nil
	setCondition(lease, jumpstarterv1alpha1.LeaseConditionPending, metav1.ConditionFalse, "Granted", "exporter "+exporter+" granted", now.Time)
	setCondition(lease, jumpstarterv1alpha1.LeaseConditionReady, metav1.ConditionTrue, jumpstarterv1alpha1.LeaseReasonReady, "exporter "+exporter+" granted", now.Time)
}

// setEnded records the end. Effective end time exists only for leases that had started.
func setEnded(lease *jumpstarterv1alpha1.Lease, o outcome, now metav1.MicroTime) {
	lease.Status.Ended = true
	lease.Status.Phase = jumpstarterv1alpha1.LeasePhaseEnded
	lease.Status.QueuePosition = nil
	if lease.Status.BeginTime != nil {
		lease.Status.EndTime = &now
	}
	if meta.IsStatusConditionTrue(lease.Status.Conditions, jumpstarterv1alpha1.LeaseConditionPending) {
		setCondition(lease, jumpstarterv1alpha1.LeaseConditionPending, metav1.ConditionFalse, o.reason, o.message, now.Time)
	}
	setCondition(lease, o.condition, o.status, o.reason, o.message, now.Time)
}
