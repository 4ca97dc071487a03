package controller

import (
	"time"

	"github.com/spf13/pflag"

	"jumpstarter.dev/service/pkg/lease"
	"jumpstarter.dev/service/pkg/virtualnode"
)

// Options are the controller's settings, bound to command-line flags.
type Options struct {
	MetricsAddr             string
	ProbeAddr               string
	LeaderElect             bool
	LeaderElectionNamespace string
	// QPS and Burst of the API client. Every grant costs a handful of writes (placeholder,
	// acceptance, lease status) and every online exporter a heartbeat every 10 s, so the
	// client-go default of 20 QPS would cap a lab of a few hundred exporters.
	QPS               float32
	Burst             int
	HeartbeatInterval time.Duration
	QueueRefresh      time.Duration
	LeaseConcurrency  int
}

// DefaultOptions are the settings used when no flag says otherwise.
func DefaultOptions() Options {
	return Options{
		MetricsAddr:       ":8080",
		ProbeAddr:         ":8081",
		LeaderElect:       false,
		QPS:               200,
		Burst:             400,
		HeartbeatInterval: virtualnode.DefaultHeartbeatInterval,
		QueueRefresh:      lease.DefaultQueueRefresh,
		LeaseConcurrency:  lease.DefaultMaxConcurrentReconciles,
	}
}

// AddFlags binds the options to flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, "address of the metrics endpoint; 0 disables it")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", o.ProbeAddr, "address of the /healthz and /readyz endpoints")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "elect a leader so that only one replica reconciles")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace, "namespace of the leader election Lease (default: the pod's namespace)")
	fs.Float32Var(&o.QPS, "kube-api-qps", o.QPS, "queries per second to the API server")
	fs.IntVar(&o.Burst, "kube-api-burst", o.Burst, "burst of queries to the API server")
	fs.DurationVar(&o.HeartbeatInterval, "node-heartbeat-interval", o.HeartbeatInterval, "how often an online exporter's node Lease is renewed")
	fs.DurationVar(&o.QueueRefresh, "queue-refresh-interval", o.QueueRefresh, "how often a waiting lease refreshes its queue position")
	fs.IntVar(&o.LeaseConcurrency, "lease-workers", o.LeaseConcurrency, "leases reconciled at once")
}
