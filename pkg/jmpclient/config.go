package jmpclient

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"jumpstarter.dev/service/pkg/clientconfig"
)

// Environment variables the client reads (wire contract §3.1, §3.7, §4.1).
const (
	EnvEndpoint  = "JMP_ENDPOINT"
	EnvToken     = "JMP_TOKEN"
	EnvNamespace = "JMP_NAMESPACE"
	EnvName      = "JMP_NAME"
	// EnvLease names a lease to use instead of acquiring one (bare id).
	EnvLease = "JMP_LEASE"
	// EnvGRPCInsecure and EnvGRPCInsecureLegacy set to 1 mean tls.insecure.
	EnvGRPCInsecure       = "JMP_GRPC_INSECURE"
	EnvGRPCInsecureLegacy = "JUMPSTARTER_GRPC_INSECURE"
	// EnvDialTimeout and EnvRetryTimeout override leases.dial_timeout and
	// leases.retry_timeout, in seconds.
	EnvDialTimeout  = "JMP_DIAL_TIMEOUT"
	EnvRetryTimeout = "JMP_RETRY_TIMEOUT"
)

// Config is a ClientConfig with what the environment adds, ready to connect with.
type Config struct {
	*clientconfig.ClientConfig
	// Path is the file the config came from; empty when it came from the environment.
	Path string
	// Insecure is tls.insecure or one of the insecure environment variables.
	Insecure bool
	// AcquisitionTimeout bounds the wait for a lease to become ready.
	AcquisitionTimeout time.Duration
	// DialTimeout bounds the Dial retries while the exporter gets ready.
	DialTimeout time.Duration
	// RetryTimeout bounds re-leasing when the exporter of a fresh lease is unreachable.
	RetryTimeout time.Duration
	// Lease is $JMP_LEASE: the lease commands use when none is named.
	Lease string
}

// Getenv reads one environment variable; os.Getenv, or a map in tests.
type Getenv func(key string) string

// LoadConfig finds and loads the client config, the way the Jumpstarter tools do:
//   - path, when not empty;
//   - else the four variables JMP_ENDPOINT, JMP_TOKEN, JMP_NAMESPACE and JMP_NAME, when all
//     are set (as inside a `jmp shell`);
//   - else the current client of the user config (CONFIG_HOME/config.yaml).
//
// Values in a file win over the environment, as with the Python tools; the environment
// only fills an empty endpoint or token. JMP_GRPC_INSECURE=1 turns on insecure TLS, and
// JMP_DIAL_TIMEOUT and JMP_RETRY_TIMEOUT override the file's lease timeouts.
func LoadConfig(path string, getenv Getenv) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	cc, path, err := loadClientConfig(path, getenv)
	if err != nil {
		return nil, err
	}
	if cc.Endpoint == "" {
		cc.Endpoint = getenv(EnvEndpoint)
	}
	if cc.Token == "" {
		cc.Token = getenv(EnvToken)
	}
	where := path
	if where == "" {
		where = "the environment"
	}
	if cc.Endpoint == "" {
		return nil, fmt.Errorf("client config %s: endpoint: required (or set $%s)", where, EnvEndpoint)
	}
	if cc.Token == "" {
		return nil, fmt.Errorf("client config %s: token: required (or set $%s)", where, EnvToken)
	}
	leases := cc.LeaseSettings()
	cfg := &Config{
		ClientConfig:       cc,
		Path:               path,
		Insecure:           cc.TLS.Insecure || getenv(EnvGRPCInsecure) == "1" || getenv(EnvGRPCInsecureLegacy) == "1",
		AcquisitionTimeout: time.Duration(leases.AcquisitionTimeout) * time.Second,
		DialTimeout:        seconds(leases.DialTimeout),
		RetryTimeout:       seconds(leases.RetryTimeout),
		Lease:              getenv(EnvLease),
	}
	for _, o := range []struct {
		env string
		dst *time.Duration
	}{{EnvDialTimeout, &cfg.DialTimeout}, {EnvRetryTimeout, &cfg.RetryTimeout}} {
		v := getenv(o.env)
		if v == "" {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return nil, fmt.Errorf("$%s: %q, want a number of seconds", o.env, v)
		}
		*o.dst = seconds(f)
	}
	return cfg, nil
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

func loadClientConfig(path string, getenv Getenv) (*clientconfig.ClientConfig, string, error) {
	if path != "" {
		cc, err := clientconfig.LoadClientConfig(path)
		return cc, path, err
	}
	if ns, name := getenv(EnvNamespace), getenv(EnvName); ns != "" && name != "" && getenv(EnvEndpoint) != "" && getenv(EnvToken) != "" {
		cc := clientconfig.NewClientConfig(ns, name)
		return cc, "", nil
	}
	path, err := currentClientPath()
	if err != nil {
		return nil, "", err
	}
	cc, err := clientconfig.LoadClientConfig(path)
	return cc, path, err
}

// errNoConfig says every way to name a client config.
var errNoConfig = errors.New("no client config: pass --config FILE, set the current client in the user config " +
	"(jmpctl admin create client does it for the first one), or set $" + EnvEndpoint + ", $" + EnvToken + ", $" + EnvNamespace + " and $" + EnvName)

// currentClientPath is the file of the user config's current client.
func currentClientPath() (string, error) {
	userPath, err := clientconfig.UserConfigPath()
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(userPath)
	if errors.Is(err, os.ErrNotExist) {
		return "", errNoConfig
	}
	if err != nil {
		return "", fmt.Errorf("read user config: %w", err)
	}
	u, err := clientconfig.ParseUserConfig(data)
	if err != nil {
		return "", fmt.Errorf("%s: %w", userPath, err)
	}
	if u.Config.CurrentClient == nil || *u.Config.CurrentClient == "" {
		return "", fmt.Errorf("%s: config.current-client is not set: %w", userPath, errNoConfig)
	}
	return clientconfig.ClientConfigPath(*u.Config.CurrentClient)
}
