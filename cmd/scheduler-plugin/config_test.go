package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	schedulerappconfig "k8s.io/kubernetes/cmd/kube-scheduler/app/config"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	"k8s.io/kubernetes/pkg/scheduler"
	"k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/names"

	jsv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/plugin"
)

const configFile = "../../config/scheduler/scheduler-config.yaml"

// TestSchedulerConfig loads the shipped configuration the way the binary does: kube-scheduler's
// option parsing, strict decoding, defaulting and validation, then app.Setup builds the
// scheduler with our plugin registered, which instantiates every plugin of every profile.
// A typo in a plugin name, a second queue sort or args our plugin rejects all fail here.
func TestSchedulerConfig(t *testing.T) {
	cc, sched, err := setup(t, configFile)
	if err != nil {
		t.Fatalf("Setup with %s: %v", configFile, err)
	}

	cfg := cc.ComponentConfig
	le := cfg.LeaderElection
	if !le.LeaderElect || le.ResourceNamespace != "kube-system" || le.ResourceName != jsv1alpha1.SchedulerName {
		t.Errorf("leaderElection = %+v, want leaderElect in kube-system/%s", le, jsv1alpha1.SchedulerName)
	}
	if cfg.ClientConnection.QPS < 100 || cfg.ClientConnection.Burst < 200 {
		t.Errorf("clientConnection qps/burst = %v/%v, want raised above the defaults", cfg.ClientConnection.QPS, cfg.ClientConnection.Burst)
	}
	if cfg.PodInitialBackoffSeconds != 1 || cfg.PodMaxBackoffSeconds != 1 {
		t.Errorf("pod back-off = %d/%d s, want 1/1", cfg.PodInitialBackoffSeconds, cfg.PodMaxBackoffSeconds)
	}
	if len(cfg.Profiles) != 1 {
		t.Fatalf("got %d profiles, want 1", len(cfg.Profiles))
	}

	fw, ok := sched.Profiles[jsv1alpha1.SchedulerName]
	if !ok {
		t.Fatalf("no profile %q", jsv1alpha1.SchedulerName)
	}
	got := fw.ListPlugins()
	t.Logf("queueSort=%v preFilter=%v filter=%v postFilter=%v preScore=%v score=%v",
		pluginNames(got.QueueSort), pluginNames(got.PreFilter), pluginNames(got.Filter),
		pluginNames(got.PostFilter), pluginNames(got.PreScore), got.Score.Enabled)

	if want := []string{plugin.Name}; !slices.Equal(pluginNames(got.QueueSort), want) {
		t.Errorf("queueSort = %v, want %v", pluginNames(got.QueueSort), want)
	}
	if !slices.Contains(pluginNames(got.PreEnqueue), plugin.Name) {
		t.Errorf("preEnqueue = %v, want %s (it holds back leases that could only fail)", pluginNames(got.PreEnqueue), plugin.Name)
	}
	wantFilter := []string{
		names.NodeUnschedulable, names.NodeName, names.TaintToleration, names.NodeAffinity,
		plugin.Name, names.NodeResourcesFit,
	}
	if !slices.Equal(pluginNames(got.Filter), wantFilter) {
		t.Errorf("filter = %v, want %v", pluginNames(got.Filter), wantFilter)
	}
	if !slices.Contains(pluginNames(got.PostFilter), names.DefaultPreemption) {
		t.Errorf("postFilter = %v, want %s", pluginNames(got.PostFilter), names.DefaultPreemption)
	}
	if !slices.Contains(pluginNames(got.PreFilter), names.NodeResourcesFit) {
		t.Errorf("preFilter = %v, want %s (its Filter needs its PreFilter state)", pluginNames(got.PreFilter), names.NodeResourcesFit)
	}
	// The filter list is explicit ("*" disabled), so a default plugin a later release adds would
	// run its PreFilter but silently lose its Filter: every PreFilter plugin must filter too.
	for _, name := range pluginNames(got.PreFilter) {
		if !slices.Contains(pluginNames(got.Filter), name) {
			t.Errorf("%s runs at preFilter but is missing from the filter list; add it or disable it", name)
		}
	}
	var weight int32
	for _, p := range got.Score.Enabled {
		switch p.Name {
		case plugin.Name:
			weight = p.Weight
		case names.NodeResourcesFit, names.NodeResourcesBalancedAllocation, names.ImageLocality:
			t.Errorf("score has %s, which would bias the wear-spreading order", p.Name)
		}
	}
	if weight == 0 {
		t.Errorf("score = %v, want %s with a weight", got.Score.Enabled, plugin.Name)
	}
	if !slices.Equal(pluginNames(got.Bind), []string{names.DefaultBinder}) {
		t.Errorf("bind = %v, want %s", pluginNames(got.Bind), names.DefaultBinder)
	}
}

func pluginNames(set config.PluginSet) []string {
	out := make([]string, 0, len(set.Enabled))
	for _, p := range set.Enabled {
		out = append(out, p.Name)
	}
	return out
}

// TestBrokenSchedulerConfig checks that the loader used above does reject broken variants of the
// file, so TestSchedulerConfig passing means something.
func TestBrokenSchedulerConfig(t *testing.T) {
	data, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		old, new string
	}{
		{name: "misspelt plugin", old: "JumpstarterExporter", new: "JumpstarterExporters"},
		{name: "PrioritySort left enabled: two queue sorts", old: "- name: PrioritySort", new: "- name: NodePorts"},
		{name: "unknown field", old: "podMaxBackoffSeconds: 1", new: "podMaxBackofSeconds: 1"},
		{name: "back-off cap below initial back-off", old: "podInitialBackoffSeconds: 1", new: "podInitialBackoffSeconds: 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(string(data), tt.old) {
				t.Fatalf("%q not in %s", tt.old, configFile)
			}
			path := filepath.Join(t.TempDir(), "scheduler-config.yaml")
			if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(data), tt.old, tt.new)), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, _, err := setup(t, path); err == nil {
				t.Errorf("Setup accepted a config with %s", tt.name)
			} else {
				t.Logf("rejected: %v", err)
			}
		})
	}
}

// setup runs kube-scheduler's app.Setup on a config file with our plugin registered.
func setup(t *testing.T, path string) (*schedulerappconfig.CompletedConfig, *scheduler.Scheduler, error) {
	t.Helper()
	// Setup builds clients but does not call the apiserver; the server only needs to exist.
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(server.Close)

	opts := options.NewOptions()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	for _, f := range opts.Flags.FlagSets {
		fs.AddFlagSet(f)
	}
	// The file leaves clientConnection.kubeconfig empty (in-cluster); --master stands in for it.
	if err := fs.Parse([]string{"--config", path, "--master", server.URL}); err != nil {
		t.Fatal(err)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = listener.Close() })
	opts.SecureServing.Listener = listener

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return app.Setup(ctx, opts, app.WithPlugin(plugin.Name, plugin.New))
}
