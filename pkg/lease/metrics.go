package lease

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/cachegauge"
)

// Metrics are the lease lifecycle's Prometheus metrics: what a lab admin watches to see
// whether people wait long for boards, and whether the controller keeps up (leases that end
// late mean an overloaded controller or API server). Transitions are counted when their status
// write succeeds, the one place each happens once: a conflict that is retried counts nothing,
// and a restarted controller does not grant or end a lease again. A nil *Metrics records
// nothing.
type Metrics struct {
	grants   prometheus.Counter
	ends     *prometheus.CounterVec
	wait     prometheus.Histogram
	endDelay prometheus.Histogram
	leases   *cachegauge.Collector
}

// NewMetrics returns the metrics; reader (the manager's cache) serves the leases gauge at
// each scrape.
func NewMetrics(reader client.Reader) *Metrics {
	return &Metrics{
		grants: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "jumpstarter", Subsystem: "lease", Name: "grants_total",
			Help: "Leases granted an exporter.",
		}),
		ends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "jumpstarter", Subsystem: "lease", Name: "ends_total",
			Help: "Leases ended, by the reason of their condition (Released, Expired, Preempted, ExporterDeleted, PlaceholderDeleted, and the Unsatisfiable and Invalid reasons).",
		}, []string{"reason"}),
		// From the lease's creation (or its requested begin time): whole seconds, the
		// resolution of creationTimestamp, hence no finer buckets.
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "jumpstarter", Subsystem: "lease", Name: "wait_seconds",
			Help:    "How long a lease waited for its exporter: from its creation, or its begin time if later, to its grant.",
			Buckets: []float64{1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600},
		}),
		endDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "jumpstarter", Subsystem: "lease", Name: "end_delay_seconds",
			Help:    "How long after its end time an expiring lease's end was written. Growing values mean the controller or the API server falls behind.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}),
		leases: cachegauge.New(reader, prometheus.NewDesc(
			"jumpstarter_leases", "Leases by namespace and phase (Pending, Scheduled, Active, Ended; New before the controller wrote any status).",
			[]string{"namespace", "phase"}, nil),
			func() client.ObjectList { return &jumpstarterv1alpha1.LeaseList{} }, leasePhase),
	}
}

// Register registers every metric with r.
func (m *Metrics) Register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.grants, m.ends, m.wait, m.endDelay, m.leases} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// granted records a grant written at now.
func (m *Metrics) granted(lease *jumpstarterv1alpha1.Lease, now time.Time) {
	if m == nil {
		return
	}
	m.grants.Inc()
	from := lease.CreationTimestamp.Time
	if b := lease.Spec.BeginTime; b != nil && b.After(from) {
		from = b.Time
	}
	m.wait.Observe(max(now.Sub(from), 0).Seconds())
}

// ended records an end written at now, for the given reason; due is when an expiring lease
// was due to end (zero for the other reasons).
func (m *Metrics) ended(reason string, due, now time.Time) {
	if m == nil {
		return
	}
	m.ends.WithLabelValues(reason).Inc()
	if !due.IsZero() {
		m.endDelay.Observe(max(now.Sub(due), 0).Seconds())
	}
}

// leasePhase is a lease's phase for the leases gauge: Ended once ended (whatever the phase
// said before), New before the controller wrote any status.
func leasePhase(obj runtime.Object) []string {
	l := obj.(*jumpstarterv1alpha1.Lease)
	phase := string(l.Status.Phase)
	switch {
	case l.Status.Ended:
		phase = string(jumpstarterv1alpha1.LeasePhaseEnded)
	case phase == "":
		phase = "New"
	}
	return []string{l.Namespace, phase}
}
