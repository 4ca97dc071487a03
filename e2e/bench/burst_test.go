package bench

import (
	"fmt"
	"testing"
	"time"

	"jumpstarter.dev/service/e2e/support"
)

// burst is what a burst of leases created at once looked like.
type burst struct {
	leases, granted, ended int
	// grantRate is the leases granted over the time from the first create to the last grant.
	grantRate float64
	// allEnded is the time from the first create to the last end; zero unless all ended.
	allEnded                 time.Duration
	lateP50, lateP99         time.Duration // ended seen minus status.beginTime + duration
	handOverP50, handOverP99 time.Duration // per exporter, one end to the next grant
	// seen is Ready seen minus status.beginTime: the grant's status write plus the watch's
	// delivery to this client, a part of every other figure.
	seenP50, seenP99 time.Duration
	// The same two measures from the controller's own stamps (status.beginTime and
	// status.endTime), without the watch's delivery to this process.
	stampLateP50, stampLateP99         time.Duration
	stampHandOverP50, stampHandOverP99 time.Duration
}

// measureBurst works on what was seen, complete or not.
func measureBurst(h map[string]support.LeaseHistory, names []string, first time.Time, d time.Duration) burst {
	m := burst{leases: len(names)}
	var late, seen, stampLate []time.Duration
	var lastGrant, lastEnd time.Time
	for _, n := range names {
		lh := h[n]
		if !lh.Granted.IsZero() {
			m.granted++
			lastGrant = later(lastGrant, lh.Granted)
			if !lh.EndTime.IsZero() {
				seen = append(seen, lh.Granted.Sub(lh.EndTime.Add(-d)))
			}
		}
		if !lh.Ended.IsZero() {
			m.ended++
			lastEnd = later(lastEnd, lh.Ended)
			if !lh.EndTime.IsZero() {
				late = append(late, lh.Ended.Sub(lh.EndTime))
				if !lh.EndStamp.IsZero() {
					stampLate = append(stampLate, lh.EndStamp.Sub(lh.EndTime))
				}
			}
		}
	}
	if m.granted > 0 {
		m.grantRate = rate(m.granted, lastGrant.Sub(first))
	}
	if m.ended == m.leases {
		m.allEnded = lastEnd.Sub(first)
	}
	gaps := handOvers(h)
	stampGaps := stampHandOvers(h)
	m.stampLateP50, m.stampLateP99 = percentile(stampLate, 0.5), percentile(stampLate, 0.99)
	m.stampHandOverP50, m.stampHandOverP99 = percentile(stampGaps, 0.5), percentile(stampGaps, 0.99)
	m.lateP50, m.lateP99 = percentile(late, 0.5), percentile(late, 0.99)
	m.handOverP50, m.handOverP99 = percentile(gaps, 0.5), percentile(gaps, 0.99)
	m.seenP50, m.seenP99 = percentile(seen, 0.5), percentile(seen, 0.99)
	return m
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// burstTargets are a scenario's targets; zero means none.
type burstTargets struct {
	minRate     float64
	strictRate  bool // more than minRate, not at least
	lateP99     time.Duration
	handOverP99 time.Duration
}

// report adds the rows and metrics of a burst. ideal is the best possible time until all ended.
func (m burst) report(b *testing.B, results *table, scenario, desc string, ideal time.Duration, t burstTargets) {
	b.Helper()
	rateTarget := "—"
	if t.minRate > 0 {
		if t.strictRate {
			rateTarget = verdict(fmt.Sprintf("> %.0f/s", t.minRate), m.grantRate > t.minRate)
		} else {
			rateTarget = verdict(fmt.Sprintf("≥ %.0f/s", t.minRate), m.grantRate >= t.minRate)
		}
	}
	rateValue := fmt.Sprintf("%.1f", m.grantRate)
	if m.granted < m.leases {
		rateValue += fmt.Sprintf(" (only %d of %d granted)", m.granted, m.leases)
	}
	results.add(scenario, "grants/s ("+desc+")", rateValue, rateTarget)
	ended := human(m.allEnded)
	if m.ended < m.leases {
		ended = fmt.Sprintf("timed out: %d of %d ended", m.ended, m.leases)
	}
	results.add(scenario, "first create → all ended", ended, "ideal "+human(ideal)+" (busiest board)")
	results.add(scenario, "Ready seen − status.beginTime p50 / p99 (grant write + watch delivery)", human(m.seenP50)+" / "+human(m.seenP99), "—")
	results.add(scenario, "end lateness p50", human(m.lateP50), "—")
	lateTarget := "—"
	if t.lateP99 > 0 {
		lateTarget = atMost(m.lateP99, t.lateP99)
	}
	results.add(scenario, "end lateness p99", human(m.lateP99), lateTarget)
	results.add(scenario, "hand-over under load p50", human(m.handOverP50), "—")
	handOverTarget := "—"
	if t.handOverP99 > 0 {
		handOverTarget = below(m.handOverP99, t.handOverP99)
	}
	results.add(scenario, "hand-over under load p99", human(m.handOverP99), handOverTarget)
	results.add(scenario, "controller stamps: status.endTime − due p50 / p99", human(m.stampLateP50)+" / "+human(m.stampLateP99), "—")
	results.add(scenario, "controller stamps: next status.beginTime − previous status.endTime p50 / p99", human(m.stampHandOverP50)+" / "+human(m.stampHandOverP99), "—")

	b.ReportMetric(0, "ns/op")
	b.ReportMetric(m.grantRate, "grants/s")
	b.ReportMetric(m.allEnded.Seconds(), "all-ended-s")
	b.ReportMetric(ms(m.lateP99), "late-p99-ms")
	b.ReportMetric(ms(m.handOverP99), "handover-p99-ms")
}
