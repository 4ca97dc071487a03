package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// row is one line of the result table.
type row struct {
	scenario, metric, value, target string
}

// table collects the rows of every scenario; it is printed once at the end.
type table struct {
	mu   sync.Mutex
	rows []row
}

func (t *table) add(scenario, metric, value, target string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rows = append(t.rows, row{scenario, metric, value, target})
}

func (t *table) print(w io.Writer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.rows) == 0 {
		return
	}
	var b strings.Builder
	b.WriteString("\n| scenario | metric | value | target |\n|---|---|---|---|\n")
	for _, r := range t.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.scenario, r.metric, r.value, r.target)
	}
	_, _ = io.WriteString(w, b.String())
}

// verdict renders a target and whether the value met it.
func verdict(target string, met bool) string {
	if met {
		return target + ": met"
	}
	return target + ": MISSED"
}

func atMost(d, limit time.Duration) string { return verdict("≤ "+human(limit), d <= limit) }
func below(d, limit time.Duration) string  { return verdict("< "+human(limit), d < limit) }

// human prints a duration in ms below a second and in s above.
func human(d time.Duration) string {
	if d < time.Second && d > -time.Second {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile is the nearest-rank percentile q (0 < q ≤ 1) of ds; 0 for no samples.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// rate is n events per d, in events per second.
func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
