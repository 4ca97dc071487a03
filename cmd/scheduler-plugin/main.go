// Command scheduler-plugin is kube-scheduler with the Jumpstarter plugin registered. Flags,
// configuration loading, leader election and serving all come from kube-scheduler itself; run
// it with --config=config/scheduler/scheduler-config.yaml.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json, as in kube-scheduler
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as in kube-scheduler
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as in kube-scheduler
	"k8s.io/kubernetes/cmd/kube-scheduler/app"

	"jumpstarter.dev/service/pkg/plugin"
)

func main() {
	os.Exit(cli.Run(app.NewSchedulerCommand(app.WithPlugin(plugin.Name, plugin.New))))
}
