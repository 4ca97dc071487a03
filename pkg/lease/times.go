package lease

import (
	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// validateTimes catches what CEL cannot see across objects written by older API versions:
// a lease needs a positive length.
func validateTimes(lease *jumpstarterv1alpha1.Lease) string {
	switch {
	case lease.Spec.Duration != nil && lease.Spec.Duration.Duration <= 0:
		return "spec.duration must be positive"
	case lease.Spec.Duration == nil && (lease.Spec.BeginTime == nil || lease.Spec.EndTime == nil):
		return "spec.duration is required unless both spec.beginTime and spec.endTime are set"
	case lease.Spec.BeginTime != nil && lease.Spec.EndTime != nil && !lease.Spec.EndTime.After(lease.Spec.BeginTime.Time):
		return "spec.endTime must be after spec.beginTime"
	}
	return ""
}
