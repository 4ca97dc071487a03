// Package bench is the lease scheduling benchmark: it drives a local lab (etcd, kube-apiserver,
// kube-controller-manager, our scheduler and controller as real processes, see pkg/lab) with
// stand-in exporter agents (support.Fleet) and prints one markdown table of what it measured,
// next to the targets:
//
//	make bench
//
// or, for one scenario (the sub-benchmark names are grant-latency, hand-over, ci-pod, load and
// scale):
//
//	LAB_BIN=$(hack/build-lab-bins.sh) JUMPSTARTER_BIN=$PWD/bin \
//	  go test -count=1 -timeout 60m -run '^$' -bench 'LeaseScheduling/load' -benchtime 1x ./e2e/bench/
//
// The scenarios:
//
//   - grant-latency: 50 idle online exporters; 100 leases one after the other (create, wait
//     for Ready, release with spec.release=true, wait until ended). Latency is from just before
//     the create request to the watch event that shows Ready=True.
//   - hand-over: one exporter, 20 leases of 3 s queued at once. For each lease after the first,
//     the time from the watch event that shows the previous holder ended to the one that shows
//     this lease Ready.
//   - ci-pod: 10 idle exporters; 50 rounds of a plain lease (create, wait for Ready, release)
//     and then a CI pod asking for a lease by annotation (create, wait for the watch event that
//     shows it let go, mark it Succeeded, wait until its lease ended): the pod's wait next to
//     the plain lease's, measured side by side.
//   - load: 50 exporters over 10 label values (board=v0..v9, five each), 500 leases of 2 s with
//     a random board (seeded), created at once by 20 goroutines. Grants per second (leases over
//     the time from the first create to the last grant), time until all ended, lateness of each
//     end (ended seen minus status.beginTime + duration), hand-over under load (per exporter, the
//     gap between one lease ending and the next grant on it) and double grants.
//   - scale: 500 exporters over 50 label values, 5000 leases of 2 s, created at once, in a lab
//     of its own: grants per second, time until all ended, and the CPU seconds (utime + stime of
//     /proc/PID/stat, over the scenario and over its lease phase) and peak RSS (VmHWM of
//     /proc/PID/status) of the controller, the scheduler and the apiserver.
//
// The first four share one lab, each in a namespace of its own that is deleted (and waited
// for) afterwards.
//
// Every figure comes from watch events: one support.Recorder per scenario watches all leases of
// the namespace and stamps each event with the local clock when the client has decoded it. The
// figures therefore include the apiserver's watch fan-out and this client's own decoding, just
// as a real client would see them; nothing is polled. Under load the apiserver may drop this
// client's watch when it falls behind (the recorder resumes it and counts the resumptions), which
// delays what it sees; so load and scale also report end lateness and hand-over from the
// controller's own stamps in the lease status (status.endTime minus the due time; next
// status.beginTime minus the previous status.endTime), which the watch cannot distort. The benchmark process runs on the same
// machine as the lab, so on a small machine its own work (creating leases, decoding events)
// competes with what it measures. /proc tick counts are read as USER_HZ = 100, as on every
// common Linux architecture.
//
// Missing a target does not fail the benchmark: it is a measurement. A double grant, a lease
// that is lost (never granted, granted twice, or ended for another reason than its expiry or
// release) or a timeout fails it.
//
// To see where time goes: BENCH_KEEP_LAB=1 keeps the lab folders whole (by default their etcd
// data is removed), saves the metrics of the apiserver and of the controller next to the logs,
// and serves the controller's pprof (its port is logged); BENCH_V=3 raises the log verbosity
// of our controller and scheduler (grants, ends, client-side throttling), at a cost in CPU that
// makes the figures incomparable. The lab folders are logged (go test -v).
package bench
