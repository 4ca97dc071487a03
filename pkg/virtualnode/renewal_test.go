package virtualnode

import (
	"testing"
	"time"
)

func TestNodeLeaseRenewalOncePerInterval(t *testing.T) {
	const interval = 10 * time.Second
	start := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		renewed   time.Duration // since start; negative: never
		now       time.Duration // since start
		wantDue   bool
		wantUntil time.Duration
	}{
		{name: "never renewed", renewed: -1, now: 0, wantDue: true, wantUntil: interval},
		{name: "just renewed", renewed: 0, now: 0, wantDue: false, wantUntil: interval},
		{name: "busy exporter reconciled at half the interval", renewed: 0, now: interval / 2, wantDue: false, wantUntil: interval / 2},
		{name: "reconciled just before due", renewed: 0, now: interval - time.Second, wantDue: false, wantUntil: time.Second},
		{name: "requeue fired a little early", renewed: 0, now: interval - renewalSlack/2, wantDue: true, wantUntil: renewalSlack / 2},
		{name: "due", renewed: 0, now: interval, wantDue: true, wantUntil: time.Millisecond},
		{name: "overdue", renewed: 0, now: 3 * interval, wantDue: true, wantUntil: time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Reconciler{HeartbeatInterval: interval}
			if tt.renewed >= 0 {
				r.setRenewed("n", start.Add(tt.renewed))
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
