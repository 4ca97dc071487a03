package router

import (
	"github.com/prometheus/client_golang/prometheus"

	"jumpstarter.dev/service/pkg/tunnel/wire"
)

// Transports, as metric labels.
const (
	transportGRPC = "grpc"
	transportQUIC = "quic"
)

// metrics are the router's Prometheus metrics. Counters of the hot path are resolved to
// their label values once, so forwarding a frame costs one atomic add.
type metrics struct {
	streamsOpen *prometheus.GaugeVec
	bytes       *prometheus.CounterVec
	pairingWait prometheus.Histogram
	refusals    *prometheus.CounterVec
	tunnelEnds  *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		streamsOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "jumpstarter_router", Name: "streams_open",
			Help: "Authenticated tunnel streams open (waiting for their peer or paired), by transport.",
		}, []string{"transport"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "jumpstarter_router", Name: "forwarded_bytes_total",
			Help: "Tunnel payload bytes forwarded, by the transport of the peer and direction (received from it, sent to it).",
		}, []string{"transport", "direction"}),
		pairingWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "jumpstarter_router", Name: "pairing_wait_seconds",
			Help:    "How long the first stream of a tunnel waited for the second.",
			Buckets: []float64{0.001, 0.005, 0.02, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120},
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "jumpstarter_router", Name: "refusals_total",
			Help: "Streams refused or ended before pairing, by reason (bad_header, unauthenticated, lease_ended, duplicate, timeout, unavailable).",
		}, []string{"reason"}),
		tunnelEnds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "jumpstarter_router", Name: "tunnels_ended_total",
			Help: "Paired tunnels that ended, by how (ok, aborted, lease_ended, unavailable).",
		}, []string{"reason"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.streamsOpen, m.bytes, m.pairingWait, m.refusals, m.tunnelEnds}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range m.collectors() {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *metrics) refused(code wire.Code) { m.refusals.WithLabelValues(code.String()).Inc() }

// counters are one endpoint's byte counters.
type counters struct {
	received, sent prometheus.Counter
}

func (m *metrics) counters(transport string) counters {
	return counters{
		received: m.bytes.WithLabelValues(transport, "received"),
		sent:     m.bytes.WithLabelValues(transport, "sent"),
	}
}
