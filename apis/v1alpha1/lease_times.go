package v1alpha1

import "time"

// EffectiveEndTime is when the lease ends: spec.endTime if set, else begin + duration where
// begin is the scheduled spec.beginTime or, for an immediate lease, the grant. Zero while
// unknown. The controller, its node agent and the gRPC services (router tokens expire with the
// lease) all use it, so there is one rule.
func (l *Lease) EffectiveEndTime() time.Time {
	switch {
	case l.Spec.EndTime != nil:
		return l.Spec.EndTime.Time
	case l.Spec.Duration == nil:
		return time.Time{}
	case l.Spec.BeginTime != nil:
		return l.Spec.BeginTime.Add(l.Spec.Duration.Duration)
	case l.Status.BeginTime != nil:
		return l.Status.BeginTime.Add(l.Spec.Duration.Duration)
	}
	return time.Time{}
}

// ReleaseTime is when a lease that releases its placeholder ahead of its end (the controller's
// --release-ahead) does so: EffectiveEndTime minus ahead. Zero if the end is unknown or ahead
// is not positive. From then on the exporter is on its way to the next lease.
func (l *Lease) ReleaseTime(ahead time.Duration) time.Time {
	end := l.EffectiveEndTime()
	if end.IsZero() || ahead <= 0 {
		return time.Time{}
	}
	return end.Add(-ahead)
}

// RequestedDuration is how long the lease asks for: spec.duration, or the span between
// spec.beginTime and spec.endTime. Access policies cap it (maximumDuration).
func (l *Lease) RequestedDuration() time.Duration {
	switch {
	case l.Spec.Duration != nil:
		return l.Spec.Duration.Duration
	case l.Spec.BeginTime != nil && l.Spec.EndTime != nil:
		return l.Spec.EndTime.Sub(l.Spec.BeginTime.Time)
	}
	return 0
}
