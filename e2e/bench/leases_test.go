package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/e2e/support"
)

// recorderCheckInterval is how often a wait looks at what the recorder saw. The recorder stamps
// every event as it arrives; this only decides how soon the benchmark notices that it is done,
// and keeps the benchmark from copying thousands of histories on every event.
const recorderCheckInterval = 100 * time.Millisecond

// seed makes the random selectors of a scenario the same on every run.
const seed = 1

// boards are the label values board=v0..v<n-1>.
func boards(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("v%d", i)
	}
	return out
}

// exportersOnOneBoard makes n exporters that all carry labels.
func exportersOnOneBoard(n int, labels map[string]string) []exporterSpec {
	out := make([]exporterSpec, n)
	for i := range out {
		out[i] = exporterSpec{name: fmt.Sprintf("e-%02d", i), labels: labels}
	}
	return out
}

// releaseAndWait releases a lease (spec.release) and waits, up to timeout, until the recorder
// sees it ended.
func releaseAndWait(ctx context.Context, e *env, ns *namespace, name string, timeout time.Duration) (support.LeaseHistory, error) {
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"release":true}}`))
	if err := e.client.Patch(ctx, &jumpstarterv1alpha1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: ns.name, Name: name}}, patch); err != nil {
		return support.LeaseHistory{}, fmt.Errorf("release lease %s: %w", name, err)
	}
	h, err := waitLeases(ctx, ns.rec, []string{name}, timeout, ended)
	return h[name], err
}

// exportersOverBoards makes perBoard exporters for each board value.
func exportersOverBoards(values []string, perBoard int) []exporterSpec {
	var out []exporterSpec
	for _, v := range values {
		for i := range perBoard {
			out = append(out, exporterSpec{name: fmt.Sprintf("e-%s-%d", v, i), labels: map[string]string{"board": v}})
		}
	}
	return out
}

// randomLeases makes n leases of d, each on a board picked by a seeded RNG, and the ideal time
// until all have ended: the busiest board's number of rounds, perBoard leases a round.
func randomLeases(ns string, n int, values []string, perBoard int, d time.Duration) ([]*jumpstarterv1alpha1.Lease, time.Duration) {
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	perValue := map[string]int{}
	leases := make([]*jumpstarterv1alpha1.Lease, n)
	for i := range leases {
		v := values[rng.IntN(len(values))]
		perValue[v]++
		leases[i] = support.NewLease(ns, fmt.Sprintf("l-%05d", i), map[string]string{"board": v}, d)
	}
	rounds := 0
	for _, k := range perValue {
		rounds = max(rounds, (k+perBoard-1)/perBoard)
	}
	return leases, time.Duration(rounds) * d
}

// createLeases creates the leases concurrently and returns when the first create was sent and
// when the last one returned.
func createLeases(ctx context.Context, c client.Client, leases []*jumpstarterv1alpha1.Lease) (first, last time.Time, err error) {
	first = time.Now()
	err = forEach(ctx, len(leases), func(ctx context.Context, i int) error {
		if err := c.Create(ctx, leases[i]); err != nil {
			return fmt.Errorf("create lease %s: %w", leases[i].Name, err)
		}
		return nil
	})
	return first, time.Now(), err
}

func leaseNames(leases []*jumpstarterv1alpha1.Lease) []string {
	out := make([]string, len(leases))
	for i, l := range leases {
		out[i] = l.Name
	}
	return out
}

func granted(h support.LeaseHistory) bool { return !h.Granted.IsZero() }
func ended(h support.LeaseHistory) bool   { return !h.Ended.IsZero() }

// waitLeases waits until pred holds for every named lease in what the recorder saw, and
// returns the histories.
func waitLeases(ctx context.Context, rec *support.Recorder, names []string, timeout time.Duration, pred func(support.LeaseHistory) bool) (map[string]support.LeaseHistory, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(recorderCheckInterval)
	defer ticker.Stop()
	for {
		h := rec.History()
		var missing []string
		for _, n := range names {
			if lh, ok := h[n]; !ok || !pred(lh) {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			return h, nil
		}
		select {
		case <-ctx.Done():
			return h, fmt.Errorf("%d of %d leases did not get there within %v: %s", len(missing), len(names), timeout, describe(h, missing))
		case <-ticker.C:
		}
	}
}

// describe summarizes where the named leases are, for error messages.
func describe(h map[string]support.LeaseHistory, names []string) string {
	unseen, waiting, held := 0, 0, 0
	for _, n := range names {
		lh, ok := h[n]
		switch {
		case !ok:
			unseen++
		case lh.Granted.IsZero():
			waiting++
		case lh.Ended.IsZero():
			held++
		}
	}
	return fmt.Sprintf("%d never seen, %d never granted, %d granted and not ended (e.g. %s)",
		unseen, waiting, held, strings.Join(names[:min(5, len(names))], ", "))
}

// irregular lists the leases that were not granted exactly once and ended for the reason
// given: a lost lease.
func irregular(h map[string]support.LeaseHistory, names []string, reason string) []string {
	var out []string
	for _, n := range names {
		lh := h[n]
		if lh.Grants != 1 || lh.Ended.IsZero() || lh.EndReason != reason {
			out = append(out, fmt.Sprintf("%s (grants=%d, ended=%v, reason=%q)", n, lh.Grants, !lh.Ended.IsZero(), lh.EndReason))
		}
	}
	return out
}

// handOvers are the gaps, on each exporter, between one lease's end and the next grant.
func handOvers(h map[string]support.LeaseHistory) []time.Duration {
	byExporter := map[string][]support.LeaseHistory{}
	for _, lh := range h {
		if !lh.Granted.IsZero() {
			byExporter[lh.Exporter] = append(byExporter[lh.Exporter], lh)
		}
	}
	var gaps []time.Duration
	for _, hs := range byExporter {
		slices.SortFunc(hs, func(a, b support.LeaseHistory) int { return a.Granted.Compare(b.Granted) })
		for i := 1; i < len(hs); i++ {
			if !hs[i-1].Ended.IsZero() {
				gaps = append(gaps, hs[i].Granted.Sub(hs[i-1].Ended))
			}
		}
	}
	return gaps
}

// handOverSteps splits each hand-over (per exporter, one lease's end to the next lease's grant)
// into its steps, as the pod tracer saw the placeholders.
func handOverSteps(h map[string]support.LeaseHistory, tracer *podTracer) *steps {
	byExporter := map[string][]support.LeaseHistory{}
	for _, lh := range h {
		if !lh.Granted.IsZero() {
			byExporter[lh.Exporter] = append(byExporter[lh.Exporter], lh)
		}
	}
	s := &steps{}
	// In a burst the placeholders themselves come late: a free exporter waits for them.
	for _, lh := range h {
		s.add("lease seen → its placeholder created (controller)", lh.Created, tracer.history(lh.Name).Created)
	}
	for _, hs := range byExporter {
		slices.SortFunc(hs, func(a, b support.LeaseHistory) int { return a.Granted.Compare(b.Granted) })
		for i := 1; i < len(hs); i++ {
			prev, next := hs[i-1], hs[i]
			prevPod, nextPod := tracer.history(prev.Name), tracer.history(next.Name)
			s.add("ended → its placeholder deleted (controller)", prev.Ended, prevPod.Deleted)
			s.add("placeholder deleted → next bound (scheduler)", prevPod.Deleted, nextPod.Bound)
			// The grant follows the binding at once; the node agent's Running write comes after
			// it, off the hand-over's path.
			s.add("bound → grant written (controller: node agent + status write)", nextPod.Bound, next.BeginStamp)
			s.add("grant written → Ready seen (watch delivery)", next.BeginStamp, next.Granted)
		}
	}
	return s
}

// stampHandOvers is handOvers by the controller's own stamps: per exporter, status.endTime of
// one lease to status.beginTime of the next.
func stampHandOvers(h map[string]support.LeaseHistory) []time.Duration {
	byExporter := map[string][]support.LeaseHistory{}
	for _, lh := range h {
		if !lh.BeginStamp.IsZero() {
			byExporter[lh.Exporter] = append(byExporter[lh.Exporter], lh)
		}
	}
	var gaps []time.Duration
	for _, hs := range byExporter {
		slices.SortFunc(hs, func(a, b support.LeaseHistory) int { return a.BeginStamp.Compare(b.BeginStamp) })
		for i := 1; i < len(hs); i++ {
			if !hs[i-1].EndStamp.IsZero() {
				gaps = append(gaps, hs[i].BeginStamp.Sub(hs[i-1].EndStamp))
			}
		}
	}
	return gaps
}

// fatal stops a scenario that went wrong, after checking exclusivity on what was seen.
func fatal(b *testing.B, results *table, scenario string, rec *support.Recorder, err error) {
	b.Helper()
	checkExclusive(b, results, scenario, rec, nil)
	b.Fatal(err)
}

// checkExclusive adds the double-grant row and fails the benchmark on double grants, on events
// the recorder could not see (it cannot vouch for them), and on lost leases.
func checkExclusive(b *testing.B, results *table, scenario string, rec *support.Recorder, lost []string) {
	b.Helper()
	violations, gaps := rec.Violations(), rec.Gaps()
	results.add(scenario, "double grants (every watch event checked)", fmt.Sprint(len(violations)), verdict("0", len(violations) == 0))
	if n := rec.Restarts(); n > 0 {
		// The apiserver drops a watcher that falls behind; the figures then carry that lag.
		results.add(scenario, "lease watch resumed after the apiserver dropped it", fmt.Sprintf("%d times, %d gaps", n, len(gaps)), "—")
	}
	b.ReportMetric(float64(len(violations)), "double-grants")
	if len(violations) > 0 {
		b.Errorf("%d double grants: %v", len(violations), violations[:min(10, len(violations))])
	}
	if len(gaps) > 0 {
		b.Errorf("the lease watch missed events, exclusivity is unchecked there: %v", gaps)
	}
	if len(lost) > 0 {
		b.Errorf("%d leases lost: %v", len(lost), lost[:min(10, len(lost))])
	}
}

// dumpTimelines writes each lease's timeline, in milliseconds since first, to
// $BENCH_DUMP/SCENARIO.csv when BENCH_DUMP is set: the table's percentiles say how late, this
// says when.
func dumpTimelines(b *testing.B, scenario string, h map[string]support.LeaseHistory, names []string, first time.Time, tracer *podTracer) {
	dump(b, scenario+".csv", func(out *strings.Builder) error {
		ms := func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return strconv.FormatInt(t.Sub(first).Milliseconds(), 10)
		}
		out.WriteString("lease,exporter,created,pod_created,bound,begin_stamp,granted_seen,due,end_stamp,ended_seen,pod_deleted\n")
		for _, n := range names {
			lh := h[n]
			pod := tracer.history(n)
			fmt.Fprintf(out, "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", n, lh.Exporter, ms(lh.Created), ms(pod.Created), ms(pod.Bound), ms(lh.BeginStamp),
				ms(lh.Granted), ms(lh.EndTime), ms(lh.EndStamp), ms(lh.Ended), ms(pod.Deleted))
		}
		return nil
	})
}

// dumpEvents writes the namespace's events (reason, the object, the message) to
// $BENCH_DUMP/SCENARIO-events.csv when BENCH_DUMP is set, before the namespace goes; times in
// milliseconds since first.
func dumpEvents(b *testing.B, c client.Client, ns, scenario string, first time.Time) {
	dump(b, scenario+"-events.csv", func(out *strings.Builder) error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		events := &eventsv1.EventList{}
		if err := c.List(ctx, events, client.InNamespace(ns)); err != nil {
			return err
		}
		out.WriteString("at,reporter,reason,kind,name,count,message\n")
		for _, ev := range events.Items {
			count := int32(1)
			if ev.Series != nil {
				count = ev.Series.Count
			}
			fmt.Fprintf(out, "%d,%s,%s,%s,%s,%d,%q\n", ev.EventTime.Sub(first).Milliseconds(), ev.ReportingController, ev.Reason, ev.Regarding.Kind, ev.Regarding.Name, count, ev.Note)
		}
		return nil
	})
}

// dump writes what write produces to $BENCH_DUMP/name, if BENCH_DUMP is set.
func dump(b *testing.B, name string, write func(*strings.Builder) error) {
	dir := os.Getenv(envDump)
	if dir == "" {
		return
	}
	var out strings.Builder
	path := filepath.Join(dir, name)
	if err := write(&out); err != nil {
		b.Errorf("dump %s: %v", path, err)
		return
	}
	if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
		b.Errorf("dump %s: %v", path, err)
		return
	}
	b.Logf("dumped %s", path)
}
