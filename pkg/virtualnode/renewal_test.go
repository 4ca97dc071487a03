package virtualnode

import (
	"cmp"
	"testing"
	"time"
)

func TestNodeLeaseRenewalOncePerInterval(t *testing.T) {
	const interval = 10 * time.Second
	start := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		renewed time.Duration // since start; negative: never
		// firstGap is the drawn time from the first renewal to the second; zero: a whole interval.
		firstGap time.Duration
		// renewedAgain: renewed a second time, when due after the first.
		renewedAgain bool
		now          time.Duration // since start
		wantDue      bool
		wantUntil    time.Duration
	}{
		{name: "never renewed", renewed: -1, now: 0, wantDue: true, wantUntil: interval},
		{name: "first renewal: the second comes at the drawn phase", renewed: 0, firstGap: 3 * time.Second, now: time.Second, wantDue: false, wantUntil: 2 * time.Second},
		{name: "first renewal: due at the drawn phase", renewed: 0, firstGap: 3 * time.Second, now: 3 * time.Second, wantDue: true, wantUntil: time.Millisecond},
		{name: "second renewal: one interval later", renewed: 0, firstGap: 3 * time.Second, renewedAgain: true, now: 3*time.Second + interval/2, wantDue: false, wantUntil: interval / 2},
		{name: "just renewed", renewed: 0, now: 0, wantDue: false, wantUntil: interval},
		{name: "busy exporter reconciled at half the interval", renewed: 0, now: interval / 2, wantDue: false, wantUntil: interval / 2},
		{name: "reconciled just before due", renewed: 0, now: interval - time.Second, wantDue: false, wantUntil: time.Second},
		{name: "requeue fired a little early", renewed: 0, now: interval - renewalSlack/2, wantDue: true, wantUntil: renewalSlack / 2},
		{name: "due", renewed: 0, now: interval, wantDue: true, wantUntil: time.Millisecond},
		{name: "overdue", renewed: 0, now: 3 * interval, wantDue: true, wantUntil: time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Reconciler{HeartbeatInterval: interval, firstGap: func(d time.Duration) time.Duration { return cmp.Or(tt.firstGap, d) }}
			if tt.renewed >= 0 {
				r.setRenewed("n", start.Add(tt.renewed))
			}
			if tt.renewedAgain {
				r.setRenewed("n", start.Add(tt.renewed+tt.firstGap))
			}
			now := start.Add(tt.now)
			if got := r.renewalDue("n", now); got != tt.wantDue {
				t.Errorf("renewalDue = %v, want %v", got, tt.wantDue)
			}
			if got := r.untilRenewal("n", now); got != tt.wantUntil {
				t.Errorf("untilRenewal = %v, want %v", got, tt.wantUntil)
			}
		})
	}
}

func TestRandomPhaseIsWithinTheInterval(t *testing.T) {
	const interval = 10 * time.Second
	seen := map[time.Duration]bool{}
	for range 1000 {
		p := randomPhase(interval)
		if p <= 0 || p > interval {
			t.Fatalf("randomPhase(%v) = %v, want within (0, %v]", interval, p, interval)
		}
		seen[(p - 1).Truncate(time.Second)] = true // bins [0 s, 1 s) … [9 s, 10 s)
	}
	// 1000 uniform draws miss one of ten one-second bins with a chance of about 10 * 0.9^1000.
	if len(seen) != 10 {
		t.Errorf("1000 phases fell in %d of the interval's ten seconds, want all ten", len(seen))
	}
}
