package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/cli/admin"
	"jumpstarter.dev/service/pkg/cli/session"
	"jumpstarter.dev/service/pkg/jmpclient"
)

// Streams are the standard streams of the program.
type Streams struct {
	// In is standard input, for the interactive shell; nil reads nothing.
	In          io.Reader
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

// Options are what jmpctl takes from its surroundings; the zero value is the real thing.
type Options struct {
	// NewClient connects the admin commands to the cluster; nil uses the kubeconfig.
	NewClient NewClientFunc
	// Getenv reads the environment (JMP_*, SHELL); nil is os.Getenv.
	Getenv jmpclient.Getenv
	// Session are the tunnel and driver client; the zero value is DefaultSessionDeps().
	Session session.Deps
	// Connect connects the client commands to the controller; nil is jmpclient.Connect.
	Connect func(*jmpclient.Config) (*jmpclient.Client, error)
	// Now is the clock of the tables; nil is time.Now.
	Now func() time.Time
}

// Run runs jmpctl with args (without the program name) and returns the exit code.
func Run(ctx context.Context, args []string, streams Streams, newClient NewClientFunc) int {
	return RunWith(ctx, args, streams, Options{NewClient: newClient})
}

const rootLong = `jmpctl uses a Jumpstarter service as a client (lease, exporters, shell, forward, power: with the
client config of --config, $JMPCTL_CONFIG, the JMP_* environment or the user config's current
client) and manages it as an admin (admin: with the kubeconfig).

` + exitCodesHelp

// RunWith is Run with all of its surroundings given. Errors are printed once, to standard
// error; the exit code says what kind of error it was (see the package doc).
func RunWith(ctx context.Context, args []string, streams Streams, opts Options) int {
	cmd := NewCommandWith(streams, opts)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	code := exitCode(ctx, err)
	if err != nil && !isExitCode(err) {
		fmt.Fprintf(streams.ErrOut, "Error: %v\n", err)
	}
	return code
}

// NewCommandWith is the root command with all of its surroundings given.
func NewCommandWith(streams Streams, opts Options) *cobra.Command {
	if opts.NewClient == nil {
		opts.NewClient = KubeconfigClient
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Session.Tunnel == nil && opts.Session.OpenDrivers == nil {
		opts.Session = DefaultSessionDeps()
	}
	if opts.Connect == nil {
		opts.Connect = jmpclient.Connect
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	flags := &ClusterFlags{}
	root := &cobra.Command{
		Use:   "jmpctl",
		Short: "Use and manage a Jumpstarter service: leases, exporters, shells and port forwards",
		Long:  rootLong,
		// Errors are printed once, by Run; usage only on request.
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	pf := root.PersistentFlags()
	pf.StringVar(&flags.Kubeconfig, "kubeconfig", "", "admin: path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
	pf.StringVar(&flags.Context, "context", "", "admin: the kubeconfig context to use")
	pf.StringVarP(&flags.Namespace, "namespace", "n", "", "admin: the namespace (default: the context's namespace, else default)")

	env := &env{streams: streams, flags: flags, newClient: opts.NewClient, opts: opts}
	pf.StringVar(&env.client.config, "config", "", "client config file (default: $"+EnvConfig+", else the JMP_* environment, else the current client of the user config)")
	pf.StringVarP(&env.client.output, "output", "o", "", "output format: json, yaml or name (default: a table)")
	root.AddCommand(newAdminCommand(env))
	root.AddCommand(newLeaseCommand(env), newExportersCommand(env), newShellCommand(env), newForwardCommand(env), newPowerCommand(env))
	markUsageErrors(root)
	return root
}

// env is what every command shares: the streams and a lazily built admin.
type env struct {
	streams   Streams
	flags     *ClusterFlags
	newClient NewClientFunc
	opts      Options
	client    clientFlags
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
