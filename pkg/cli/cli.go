package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/cli/admin"
)

// Streams are the standard streams of the program.
type Streams struct {
	Out, ErrOut io.Writer
}

// ClusterFlags are the root flags that say which cluster and namespace to use.
type ClusterFlags struct {
	Kubeconfig string
	Context    string
	Namespace  string
}

// NewClientFunc connects to the cluster the flags name and returns a client and the namespace
// to work in. Tests replace it with a fake client.
type NewClientFunc func(flags ClusterFlags, scheme *runtime.Scheme) (client.Client, string, error)

// Run runs jmpctl with args (without the program name) and returns the exit code.
func Run(ctx context.Context, args []string, streams Streams, newClient NewClientFunc) int {
	cmd := NewCommand(streams, newClient)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(streams.ErrOut, "Error: %v\n", err)
		return 1
	}
	return 0
}

// NewCommand is the root command, jmpctl. A nil newClient uses the kubeconfig.
func NewCommand(streams Streams, newClient NewClientFunc) *cobra.Command {
	if newClient == nil {
		newClient = KubeconfigClient
	}
	flags := &ClusterFlags{}
	root := &cobra.Command{
		Use:   "jmpctl",
		Short: "Manage a Jumpstarter service through the Kubernetes API",
		// Errors are printed once, by Run; usage only on request.
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	pf := root.PersistentFlags()
	pf.StringVar(&flags.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	pf.StringVar(&flags.Context, "context", "", "the kubeconfig context to use")
	pf.StringVarP(&flags.Namespace, "namespace", "n", "", "the namespace (default: the context's namespace, else default)")

	env := &env{streams: streams, flags: flags, newClient: newClient}
	root.AddCommand(newAdminCommand(env))
	return root
}

// env is what every command shares: the streams and a lazily built admin.
type env struct {
	streams   Streams
	flags     *ClusterFlags
	newClient NewClientFunc
}

// admin connects and returns an Admin and the namespace.
func (e *env) admin(timeout time.Duration) (*admin.Admin, string, error) {
	c, ns, err := e.newClient(*e.flags, newScheme())
	if err != nil {
		return nil, "", err
	}
	return &admin.Admin{Client: c, Timeout: timeout}, ns, nil
}

func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	// Both only fail on conflicting registrations, which a fresh scheme cannot have.
	_ = clientgoscheme.AddToScheme(scheme)
	_ = jumpstarterv1alpha1.AddToScheme(scheme)
	return scheme
}

// KubeconfigClient loads the kubeconfig the way kubectl does and builds a client for it.
func KubeconfigClient(flags ClusterFlags, scheme *runtime.Scheme) (client.Client, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = flags.Kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: flags.Context}
	overrides.Context.Namespace = flags.Namespace
	config := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	restConfig, err := config.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, "", errors.New("no kubeconfig: pass --kubeconfig or set $KUBECONFIG")
		}
		return nil, "", fmt.Errorf("load kubeconfig: %w", err)
	}
	ns, _, err := config.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("load kubeconfig: %w", err)
	}
	c, err := client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", fmt.Errorf("connect to %s: %w", restConfig.Host, err)
	}
	return c, ns, nil
}
