package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"jumpstarter.dev/service/pkg/auth/token"
	"jumpstarter.dev/service/pkg/cli/admin"
)

func newAdminCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Create, list, delete and rotate the credentials of clients and exporters",
	}
	cmd.AddCommand(newCreateCommand(e), newGetCommand(e), newDeleteCommand(e), newRotateCommand(e))
	return cmd
}

// configFlags are the flags that shape the config file.
type configFlags struct {
	out         string
	caFile      string
	insecureTLS bool
	allow       []string
	unsafe      bool
}

func (f *configFlags) addOut(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.out, "out", "", `config file to write (default: the tools' path for the name, e.g. ~/.config/jumpstarter/clients/NAME.yaml; "-" for standard output)`)
	cmd.Flags().StringVar(&f.caFile, "ca-file", "", "PEM CA bundle for tls.ca (default: ConfigMap jumpstarter-service-ca-cert in the namespace, else none: the system roots)")
}

func (f *configFlags) options(e *env) admin.ConfigOptions {
	return admin.ConfigOptions{Out: f.out, Stdout: e.streams.Out, CAFile: f.caFile, InsecureTLS: f.insecureTLS, Allow: f.allow, Unsafe: f.unsafe}
}

// messages go to standard output, unless the config does.
func (f *configFlags) messages(e *env) io.Writer {
	if f.out == admin.Stdout {
		return e.streams.ErrOut
	}
	return e.streams.Out
}

func newCreateCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a client or an exporter and write its config file",
	}
	for _, kind := range []token.Kind{token.KindClient, token.KindExporter} {
		cmd.AddCommand(newCreateKindCommand(e, kind))
	}
	return cmd
}

func newCreateKindCommand(e *env, kind token.Kind) *cobra.Command {
	var (
		cfg          configFlags
		labels       []string
		oidcUsername string
		timeout      = admin.DefaultTimeout
	)
	short := "Create a client and write its ClientConfig"
	if kind == token.KindExporter {
		short = "Create an exporter and write its ExporterConfig"
	}
	cmd := &cobra.Command{
		Use:   string(kind) + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			labelMap, err := admin.ParseLabels(labels)
			if err != nil {
				return err
			}
			a, ns, err := e.admin(timeout)
			if err != nil {
				return err
			}
			res, err := a.Create(cmd.Context(), admin.CreateOptions{
				Kind: kind, Namespace: ns, Name: args[0], Labels: labelMap, OIDCUsername: oidcUsername, Config: cfg.options(e),
			})
			if err != nil {
				return err
			}
			reportWritten(cfg.messages(e), "created", kind, ns, args[0], res)
			return nil
		},
	}
	f := cmd.Flags()
	what := "labels of the client"
	if kind == token.KindExporter {
		what = "labels of the exporter, which lease selectors match (at least one)"
	}
	f.StringArrayVarP(&labels, "label", "l", nil, what+"; key=value, repeatable")
	f.StringVar(&oidcUsername, "oidc-username", "", "an external OIDC username that may also act as this "+string(kind))
	f.BoolVar(&cfg.insecureTLS, "insecure-tls", false, "tls.insecure in the config: trust whatever certificate the service presents")
	if kind == token.KindClient {
		f.StringSliceVar(&cfg.allow, "allow", nil, "driver client packages the client may load (comma-separated)")
		f.BoolVar(&cfg.unsafe, "unsafe", false, "let the client load any driver package")
	}
	f.DurationVar(&timeout, "timeout", timeout, "how long to wait for the controller to issue the credential")
	cfg.addOut(cmd)
	return cmd
}

func newRotateCommand(e *env) *cobra.Command {
	var (
		cfg     configFlags
		timeout = admin.DefaultTimeout
	)
	cmd := &cobra.Command{
		Use:   "rotate client|exporter NAME",
		Short: "Replace the token of a client or an exporter (the old one stops working) and write its config",
		Long: "Replace the token of a client or an exporter and write its config file. The old token stops working at once.\n" +
			"An existing config file at the target keeps its settings and gets the new token and endpoint.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := admin.ParseKind(args[0])
			if err != nil {
				return err
			}
			a, ns, err := e.admin(timeout)
			if err != nil {
				return err
			}
			res, err := a.Rotate(cmd.Context(), kind, ns, args[1], cfg.options(e))
			if err != nil {
				return err
			}
			reportWritten(cfg.messages(e), "token rotated", kind, ns, args[1], res)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", timeout, "how long to wait for the controller to issue the new token")
	cfg.addOut(cmd)
	return cmd
}

func reportWritten(w io.Writer, what string, kind token.Kind, ns, name string, res *admin.Result) {
	msg := fmt.Sprintf("%s %s/%s %s", kind, ns, name, what)
	if res.Path != "" {
		msg += ", config written to " + res.Path
	}
	if res.SelectedAsDefault {
		msg += " (now the default client)"
	}
	fmt.Fprintln(w, msg)
}

func newDeleteCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "delete client|exporter NAME",
		Short: "Delete a client or an exporter and its credential",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := admin.ParseKind(args[0])
			if err != nil {
				return err
			}
			a, ns, err := e.admin(0)
			if err != nil {
				return err
			}
			if err := a.Delete(cmd.Context(), kind, ns, args[1]); err != nil {
				return err
			}
			fmt.Fprintf(e.streams.Out, "%s %s/%s deleted\n", kind, ns, args[1])
			return nil
		},
	}
}

// Output formats of get.
const (
	outputTable = ""
	outputJSON  = "json"
	outputYAML  = "yaml"
)

func newGetCommand(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get client|exporter [NAME]",
		Short: "List clients or exporters: endpoint, token expiry, labels, and whether exporters are online",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := admin.ParseKind(args[0])
			if err != nil {
				return err
			}
			if output != outputTable && output != outputJSON && output != outputYAML {
				return fmt.Errorf("--output %q: want json or yaml (or nothing for a table)", output)
			}
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			a, ns, err := e.admin(0)
			if err != nil {
				return err
			}
			obj, err := a.Get(cmd.Context(), kind, ns, name)
			if err != nil {
				return err
			}
			switch output {
			case outputJSON, outputYAML:
				return printObject(obj, output, a.Client.Scheme(), e.streams.Out)
			}
			if meta.LenList(obj) == 0 {
				fmt.Fprintf(e.streams.ErrOut, "No %ss found in namespace %s.\n", kind, ns)
				return nil
			}
			table, err := a.Table(cmd.Context(), obj)
			if err != nil {
				return err
			}
			return printers.NewTablePrinter(printers.PrintOptions{}).PrintObj(table, e.streams.Out)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", outputTable, "output format: json or yaml (default: a table)")
	return cmd
}

// printObject prints obj (an object or a list) as JSON or YAML, with apiVersion and kind on
// every item and without managed fields, as kubectl does.
func printObject(obj runtime.Object, format string, scheme *runtime.Scheme, w io.Writer) error {
	setKind := func(o runtime.Object) error {
		gvk, err := apiutil.GVKForObject(o, scheme)
		if err != nil {
			return err
		}
		o.GetObjectKind().SetGroupVersionKind(gvk)
		return nil
	}
	if meta.IsListType(obj) {
		if err := meta.EachListItem(obj, setKind); err != nil {
			return err
		}
	}
	if err := setKind(obj); err != nil {
		return err
	}
	var p printers.ResourcePrinter = &printers.JSONPrinter{}
	if strings.EqualFold(format, outputYAML) {
		p = &printers.YAMLPrinter{}
	}
	return (&printers.OmitManagedFieldsPrinter{Delegate: p}).PrintObj(obj, w)
}
