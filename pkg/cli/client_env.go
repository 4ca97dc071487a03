package cli

import (
	"strings"

	"jumpstarter.dev/service/pkg/cli/session"
	"jumpstarter.dev/service/pkg/jmpclient"
)

// EnvConfig names the client config file when --config is not given. The interactive shell
// sets it, so that jmpctl inside it uses the same client.
const EnvConfig = "JMPCTL_CONFIG"

// clientFlags are the root flags of the client commands.
type clientFlags struct {
	config string
	output string
}

// config loads the client config the flags and the environment name.
func (e *env) config() (*jmpclient.Config, error) {
	path := e.client.config
	if path == "" {
		path = e.opts.Getenv(EnvConfig)
	}
	return jmpclient.LoadConfig(path, e.opts.Getenv)
}

// controller loads the client config and connects to its controller.
func (e *env) controller() (*jmpclient.Config, *jmpclient.Client, error) {
	cfg, err := e.config()
	if err != nil {
		return nil, nil, err
	}
	c, err := e.opts.Connect(cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, c, nil
}

// opener is a session opener for the client of cfg.
func (e *env) opener(cfg *jmpclient.Config, c *jmpclient.Client, transport string) (*session.Opener, error) {
	if err := session.ValidateTransport(transport); err != nil {
		return nil, usageError{err}
	}
	tlsConfig, err := jmpclient.TLSConfig(cfg.TLS, cfg.Insecure)
	if err != nil {
		return nil, err
	}
	return &session.Opener{Client: c, Deps: e.opts.Session, Transport: transport, TLS: tlsConfig, DialTimeout: cfg.DialTimeout}, nil
}

// leaseTarget is what a command that reaches the exporter of a lease works with.
type leaseTarget struct {
	client *jmpclient.Client // the caller closes it
	lease  string
	opener *session.Opener
}

// target connects to the controller and settles the lease (the flag, else $JMP_LEASE) and how
// to reach the router.
func (e *env) target(leaseFlagValue, transport string) (*leaseTarget, error) {
	cfg, c, err := e.controller()
	if err != nil {
		return nil, err
	}
	lease, err := leaseFlag(leaseFlagValue, cfg)
	var o *session.Opener
	if err == nil {
		o, err = e.opener(cfg, c, transport)
	}
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	return &leaseTarget{client: c, lease: lease, opener: o}, nil
}

// leaseFlag is the lease a command works on: the flag, else $JMP_LEASE.
func leaseFlag(flag string, cfg *jmpclient.Config) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if cfg.Lease != "" {
		return cfg.Lease, nil
	}
	return "", usageErrorf("--lease: required (or set $%s)", jmpclient.EnvLease)
}

// parseKeyValues parses repeated key=value flags.
func parseKeyValues(flag string, values []string) (map[string]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(values))
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--%s %q: want key=value", flag, v)
		}
		if _, dup := out[k]; dup {
			return nil, usageErrorf("--%s: key %q given twice", flag, k)
		}
		out[k] = val
	}
	return out, nil
}

// validateOutput checks -o against the formats a command prints.
func validateOutput(output string, allowed ...string) error {
	for _, a := range allowed {
		if output == a {
			return nil
		}
	}
	return usageErrorf("--output %q: want one of %s (or nothing for a table)", output, strings.Join(allowed[1:], ", "))
}
