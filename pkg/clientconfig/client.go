package clientconfig

import (
	"errors"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// ClientConfig is the config file of a client (wire contract §4.2). Fields are in the order
// the Python tools write them; empty Endpoint, Token and RefreshToken are omitted, as the
// Python writer omits nulls.
type ClientConfig struct {
	APIVersion   string         `yaml:"apiVersion"`
	Kind         string         `yaml:"kind"`
	Metadata     ObjectMeta     `yaml:"metadata"`
	Endpoint     string         `yaml:"endpoint,omitempty"`
	TLS          TLS            `yaml:"tls"`
	Token        string         `yaml:"token,omitempty"`
	RefreshToken string         `yaml:"refresh_token,omitempty"`
	GRPCOptions  map[string]any `yaml:"grpcOptions"`
	Drivers      Drivers        `yaml:"drivers"`
	Shell        Shell          `yaml:"shell"`
	// Leases is nil for the defaults (DefaultLeases); the writer omits the block while it
	// holds only defaults, since clients older than the block reject it.
	Leases *Leases `yaml:"leases,omitempty"`
}

// Drivers says which driver client packages the client may load.
type Drivers struct {
	Allow  []string `yaml:"allow"`
	Unsafe bool     `yaml:"unsafe"`
}

// Shell are the settings of `jmp shell`.
type Shell struct {
	UseProfiles bool `yaml:"use_profiles"`
}

// Leases are the client's lease timeouts, in seconds.
type Leases struct {
	AcquisitionTimeout int     `yaml:"acquisition_timeout"`
	DialTimeout        float64 `yaml:"dial_timeout"`
	RetryTimeout       float64 `yaml:"retry_timeout"`
}

// DefaultLeases are the lease timeouts of a config without a leases block.
func DefaultLeases() Leases {
	return Leases{AcquisitionTimeout: 7200, DialTimeout: 60, RetryTimeout: 300}
}

// IsZero makes the encoder omit a leases block that holds only defaults.
func (l *Leases) IsZero() bool { return l == nil || *l == DefaultLeases() }

// Minimums of the lease timeouts.
const (
	minAcquisitionTimeout = 5
	minDialTimeout        = 5
)

func (l Leases) validate() error {
	if l.AcquisitionTimeout < minAcquisitionTimeout {
		return fmt.Errorf("leases.acquisition_timeout: %d, want at least %d", l.AcquisitionTimeout, minAcquisitionTimeout)
	}
	if l.DialTimeout < minDialTimeout {
		return fmt.Errorf("leases.dial_timeout: %g, want at least %d", l.DialTimeout, minDialTimeout)
	}
	if l.RetryTimeout < 0 {
		return fmt.Errorf("leases.retry_timeout: %g, want at least 0", l.RetryTimeout)
	}
	return nil
}

// NewClientConfig is a ClientConfig for the client namespace/name with every default set.
func NewClientConfig(namespace, name string) *ClientConfig {
	return &ClientConfig{
		APIVersion:  APIVersion,
		Kind:        KindClientConfig,
		Metadata:    ObjectMeta{Namespace: namespace, Name: name},
		GRPCOptions: map[string]any{},
		Drivers:     Drivers{Allow: []string{}},
	}
}

// LeaseSettings are the lease timeouts in effect: Leases, or the defaults.
func (c *ClientConfig) LeaseSettings() Leases {
	if c.Leases == nil {
		return DefaultLeases()
	}
	return *c.Leases
}

// Validate checks what a reader requires: the literals, the object's name, tls.ca, the
// grpcOptions value types and the lease timeouts.
func (c *ClientConfig) Validate() error {
	var errs []error
	if c.APIVersion != APIVersion {
		errs = append(errs, fmt.Errorf("apiVersion: %q, want %q", c.APIVersion, APIVersion))
	}
	if c.Kind != KindClientConfig {
		errs = append(errs, fmt.Errorf("kind: %q, want %q", c.Kind, KindClientConfig))
	}
	if c.Metadata.Namespace == "" {
		errs = append(errs, errors.New("metadata.namespace: required"))
	}
	if c.Metadata.Name == "" {
		errs = append(errs, errors.New("metadata.name: required"))
	}
	errs = append(errs, c.TLS.validate(), validateGRPCOptions(c.GRPCOptions), c.LeaseSettings().validate())
	return errors.Join(errs...)
}

// Marshal encodes the config as the Python tools write it.
func (c *ClientConfig) Marshal() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("encode ClientConfig: %w", err)
	}
	out := *c
	if out.GRPCOptions == nil {
		out.GRPCOptions = map[string]any{}
	}
	if out.Drivers.Allow == nil {
		out.Drivers.Allow = []string{}
	}
	data, err := encode(&out)
	if err != nil {
		return nil, fmt.Errorf("encode ClientConfig: %w", err)
	}
	return data, nil
}

var (
	clientConfigKeys = []string{"apiVersion", "kind", "metadata", "endpoint", "tls", "token", "refresh_token", "grpcOptions", "drivers", "shell", "leases"}
	driversKeys      = []string{"allow", "unsafe"}
	leasesKeys       = []string{"acquisition_timeout", "dial_timeout", "retry_timeout"}
)

// ParseClientConfig decodes and validates a ClientConfig. Unknown keys at the top level and in
// metadata, drivers and leases are errors; in tls and shell they are ignored.
func ParseClientConfig(data []byte) (*ClientConfig, error) {
	c, err := parseClientConfig(data)
	if err != nil {
		return nil, fmt.Errorf("parse ClientConfig: %w", err)
	}
	return c, nil
}

func parseClientConfig(data []byte) (*ClientConfig, error) {
	c := NewClientConfig("", "")
	entries, err := decodeHeader(data, clientConfigKeys, KindClientConfig, &c.Metadata)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		switch e.key {
		case "endpoint":
			err = decodeString(e.value, e.key, &c.Endpoint)
		case "tls":
			err = decodeTLS(e.value, e.key, &c.TLS)
		case "token":
			err = decodeString(e.value, e.key, &c.Token)
		case "refresh_token":
			err = decodeString(e.value, e.key, &c.RefreshToken)
		case "grpcOptions":
			err = decodeGRPCOptions(e.value, e.key, &c.GRPCOptions)
		case "drivers":
			err = decodeDrivers(e.value, e.key, &c.Drivers)
		case "shell":
			err = decodeShell(e.value, e.key, &c.Shell)
		case "leases":
			err = decodeLeases(e.value, e.key, &c.Leases)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func decodeDrivers(n *yaml.Node, path string, dst *Drivers) error {
	entries, err := mapping(n, path, driversKeys)
	if err != nil {
		return err
	}
	for _, e := range entries {
		switch e.key {
		case "allow":
			err = decodeStringList(e.value, join(path, e.key), &dst.Allow)
		case "unsafe":
			err = decodeBool(e.value, join(path, e.key), &dst.Unsafe)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeShell ignores unknown keys, as the Python tools do.
func decodeShell(n *yaml.Node, path string, dst *Shell) error {
	entries, err := mapping(n, path, nil)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.key == "use_profiles" {
			if err := decodeBool(e.value, join(path, e.key), &dst.UseProfiles); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeLeases fills keys that are absent with their defaults.
func decodeLeases(n *yaml.Node, path string, dst **Leases) error {
	entries, err := mapping(n, path, leasesKeys)
	if err != nil {
		return err
	}
	l := DefaultLeases()
	for _, e := range entries {
		switch e.key {
		case "acquisition_timeout":
			err = decodeInt(e.value, join(path, e.key), &l.AcquisitionTimeout)
		case "dial_timeout":
			err = decodeFloat(e.value, join(path, e.key), &l.DialTimeout)
		case "retry_timeout":
			err = decodeFloat(e.value, join(path, e.key), &l.RetryTimeout)
		}
		if err != nil {
			return err
		}
	}
	*dst = &l
	return nil
}
