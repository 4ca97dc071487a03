package lease

import (
	"time"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// EndTime is when the lease ends: spec.endTime if set, else begin + duration where begin is
// the scheduled spec.beginTime or, for an immediate lease, the grant. Zero while unknown. The
// gRPC services use it too (router tokens expire with the lease), so there is one rule.
func EndTime(lease *jumpstarterv1alpha1.Lease) time.Time {
	switch {
	case lease.Spec.EndTime != nil:
		return lease.Spec.EndTime.Time
	case lease.Spec.Duration == nil:
		return time.Time{}
	case lease.Spec.BeginTime != nil:
		return lease.Spec.BeginTime.Add(lease.Spec.Duration.Duration)
	case lease.Status.BeginTime != nil:
		return lease.Status.BeginTime.Add(lease.Spec.Duration.Duration)
	}
	return time.Time{}
}

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
