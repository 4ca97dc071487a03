package demoagent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/token"
	"jumpstarter.dev/service/pkg/cli/admin"
	"jumpstarter.dev/service/pkg/clientconfig"
	"jumpstarter.dev/service/pkg/lab/demo"
)

// AgentExporter is the demo exporter served by a real Go exporter agent (bin/exporter), unlike
// the others, whose online state the heartbeat plays. A lease on it gives a working tunnel.
const AgentExporter = "qemu-01"

// AgentLabels are its labels: leases select it with board=qemu.
var AgentLabels = map[string]string{"board": "qemu", "site": "lab1"}

// Configs are the files WriteConfigs wrote.
type Configs struct {
	// Exporter is the ExporterConfig of AgentExporter, with its drivers.
	Exporter string
	// Client is the ClientConfig of the demo client, for bin/jmpctl --config.
	Client string
}

// WriteConfigs creates AgentExporter (or renews its token when it exists), gives it a shell
// driver and a tcp driver to the lab's API server, and writes its ExporterConfig and the demo
// client's ClientConfig under dir. The CA comes from the demo namespace's CA ConfigMap.
func WriteConfigs(ctx context.Context, cfg *rest.Config, dir string, apiserverPort int) (Configs, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return Configs{}, err
	}
	if err := jumpstarterv1alpha1.AddToScheme(scheme); err != nil {
		return Configs{}, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return Configs{}, fmt.Errorf("demo configs: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Configs{}, fmt.Errorf("demo configs: %w", err)
	}
	a := &admin.Admin{Client: c}
	out := Configs{
		Exporter: filepath.Join(dir, AgentExporter+".yaml"),
		Client:   filepath.Join(dir, demo.ClientName+"-client.yaml"),
	}
	_, err = a.Create(ctx, admin.CreateOptions{
		Kind: token.KindExporter, Namespace: demo.Namespace, Name: AgentExporter, Labels: AgentLabels,
		Config: admin.ConfigOptions{Out: out.Exporter},
	})
	if apierrors.IsAlreadyExists(err) {
		_, err = a.Rotate(ctx, token.KindExporter, demo.Namespace, AgentExporter, admin.ConfigOptions{Out: out.Exporter})
	}
	if err != nil {
		return Configs{}, fmt.Errorf("demo exporter %s: %w", AgentExporter, err)
	}
	exporter, err := clientconfig.LoadExporterConfig(out.Exporter)
	if err != nil {
		return Configs{}, err
	}
	exporter.Export = clientconfig.DriverInstances{
		// A lab on one's own machine: any program may run, as the user who started the lab.
		{Name: "sh", Instance: clientconfig.DriverInstance{Type: "shell", Config: map[string]any{
			"methods":   map[string]any{"hello": `echo "hello from $(hostname)"`},
			"allow_any": true,
		}}},
		{Name: "apiserver", Instance: clientconfig.DriverInstance{Type: "tcp", Config: map[string]any{
			"host": "127.0.0.1", "port": apiserverPort,
		}}},
	}
	if err := exporter.Save(out.Exporter); err != nil {
		return Configs{}, err
	}
	if _, err := a.Rotate(ctx, token.KindClient, demo.Namespace, demo.ClientName, admin.ConfigOptions{Out: out.Client}); err != nil {
		return Configs{}, fmt.Errorf("demo client %s: %w", demo.ClientName, err)
	}
	return out, nil
}
