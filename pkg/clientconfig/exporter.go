package clientconfig

import (
	"errors"
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// ExporterConfig is the config file of an exporter (wire contract §4.3). Fields are in the
// order the Python tools write them. Unlike a ClientConfig, the Python writer keeps nulls:
// description, motd and the hooks are written as null when unset.
type ExporterConfig struct {
	APIVersion       string           `yaml:"apiVersion"`
	Kind             string           `yaml:"kind"`
	Metadata         ObjectMeta       `yaml:"metadata"`
	Endpoint         string           `yaml:"endpoint,omitempty"`
	TLS              TLS              `yaml:"tls"`
	Token            string           `yaml:"token,omitempty"`
	GRPCOptions      map[string]any   `yaml:"grpcOptions"`
	Description      *string          `yaml:"description"`
	Motd             *string          `yaml:"motd"`
	Export           DriverInstances  `yaml:"export"`
	Hooks            Hooks            `yaml:"hooks"`
	FailureDetection FailureDetection `yaml:"failureDetection"`
	ExitOnLeaseEnd   bool             `yaml:"exitOnLeaseEnd"`
}

// DriverInstance is one node of the exporter's driver tree, in one of three forms: a driver
// (Type set, with optional Config and Children), a composite (Children only) or a proxy (Ref,
// the name of another instance).
type DriverInstance struct {
	// Type is the driver's Python class path.
	Type               string            `yaml:"type,omitempty"`
	Description        *string           `yaml:"description,omitempty"`
	MethodsDescription map[string]string `yaml:"methods_description,omitempty"`
	// Config are the driver's keyword arguments, as plain YAML values.
	Config   map[string]any  `yaml:"config,omitempty"`
	Children DriverInstances `yaml:"children,omitempty"`
	Ref      string          `yaml:"ref,omitempty"`
}

// NamedDriverInstance is one entry of a DriverInstances map.
type NamedDriverInstance struct {
	Name     string
	Instance DriverInstance
}

// DriverInstances is a name -> driver instance map that keeps the file's order, which is the
// order of the exporter's devices.
type DriverInstances []NamedDriverInstance

// Get returns the instance called name.
func (d DriverInstances) Get(name string) (DriverInstance, bool) {
	i := slices.IndexFunc(d, func(e NamedDriverInstance) bool { return e.Name == name })
	if i < 0 {
		return DriverInstance{}, false
	}
	return d[i].Instance, true
}

// IsZero lets an instance omit an empty children map.
func (d DriverInstances) IsZero() bool { return len(d) == 0 }

// MarshalYAML writes the instances as a mapping in their order.
func (d DriverInstances) MarshalYAML() (any, error) {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if len(d) == 0 {
		n.Style = yaml.FlowStyle
	}
	for _, e := range d {
		var v yaml.Node
		if err := v.Encode(e.Instance); err != nil {
			return nil, fmt.Errorf("driver instance %s: %w", e.Name, err)
		}
		n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: e.Name}, &v)
	}
	return n, nil
}

// Hooks are scripts the exporter runs around a lease.
type Hooks struct {
	BeforeLease *Hook `yaml:"beforeLease"`
	AfterLease  *Hook `yaml:"afterLease"`
}

// Hook is one lifecycle hook.
type Hook struct {
	Script string `yaml:"script"`
	// Exec is the interpreter; empty means the tools' default.
	Exec string `yaml:"exec,omitempty"`
	// Timeout in seconds.
	Timeout int `yaml:"timeout"`
	// OnFailure is one of HookOnFailure*.
	OnFailure string `yaml:"onFailure"`
}

// What an exporter does when a hook fails.
const (
	HookOnFailureWarn     = "warn"
	HookOnFailureEndLease = "endLease"
	HookOnFailureExit     = "exit"
)

// DefaultHookTimeout is a hook's timeout when the file does not say.
const DefaultHookTimeout = 120

// FailureDetection guards against an exporter restarting in a loop.
type FailureDetection struct {
	MaxRapidFailures int `yaml:"maxRapidFailures"`
	// RapidFailureWindow in seconds.
	RapidFailureWindow int `yaml:"rapidFailureWindow"`
}

// DefaultFailureDetection are the restart-loop guard's defaults.
func DefaultFailureDetection() FailureDetection {
	return FailureDetection{MaxRapidFailures: 5, RapidFailureWindow: 60}
}

// NewExporterConfig is an ExporterConfig for the exporter namespace/name with every default
// set and no drivers.
func NewExporterConfig(namespace, name string) *ExporterConfig {
	return &ExporterConfig{
		APIVersion:       APIVersion,
		Kind:             KindExporterConfig,
		Metadata:         ObjectMeta{Namespace: namespace, Name: name},
		GRPCOptions:      map[string]any{},
		FailureDetection: DefaultFailureDetection(),
	}
}

// Validate checks the literals, the object's name, tls.ca, grpcOptions, the driver tree and
// the hooks.
func (c *ExporterConfig) Validate() error {
	var errs []error
	if c.APIVersion != APIVersion {
		errs = append(errs, fmt.Errorf("apiVersion: %q, want %q", c.APIVersion, APIVersion))
	}
	if c.Kind != KindExporterConfig {
		errs = append(errs, fmt.Errorf("kind: %q, want %q", c.Kind, KindExporterConfig))
	}
	if c.Metadata.Namespace == "" {
		errs = append(errs, errors.New("metadata.namespace: required"))
	}
	if c.Metadata.Name == "" {
		errs = append(errs, errors.New("metadata.name: required"))
	}
	errs = append(errs, c.TLS.validate(), validateGRPCOptions(c.GRPCOptions), c.Export.validate("export"))
	errs = append(errs, c.Hooks.BeforeLease.validate("hooks.beforeLease"), c.Hooks.AfterLease.validate("hooks.afterLease"))
	return errors.Join(errs...)
}

func (d DriverInstances) validate(path string) error {
	seen := map[string]bool{}
	for _, e := range d {
		p := join(path, e.Name)
		if e.Name == "" {
			return fmt.Errorf("%s: a driver instance has an empty name", path)
		}
		if seen[e.Name] {
			return fmt.Errorf("%s: duplicate driver instance", p)
		}
		seen[e.Name] = true
		if e.Instance.Ref != "" && (e.Instance.Type != "" || len(e.Instance.Children) > 0 || len(e.Instance.Config) > 0) {
			return fmt.Errorf("%s: a proxy (ref) has no type, config or children", p)
		}
		if e.Instance.Type == "" && e.Instance.Ref == "" && len(e.Instance.Config) > 0 {
			return fmt.Errorf("%s.config: a driver config needs a type", p)
		}
		if err := e.Instance.Children.validate(join(p, "children")); err != nil {
			return err
		}
	}
	return nil
}

func (h *Hook) validate(path string) error {
	if h == nil {
		return nil
	}
	if h.Script == "" {
		return fmt.Errorf("%s.script: required", path)
	}
	if h.Timeout <= 0 {
		return fmt.Errorf("%s.timeout: %d, want a positive number of seconds", path, h.Timeout)
	}
	switch h.OnFailure {
	case HookOnFailureWarn, HookOnFailureEndLease, HookOnFailureExit:
	default:
		return fmt.Errorf("%s.onFailure: %q, want %s, %s or %s", path, h.OnFailure, HookOnFailureWarn, HookOnFailureEndLease, HookOnFailureExit)
	}
	return nil
}

// Marshal encodes the config as the Python tools write it.
func (c *ExporterConfig) Marshal() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("encode ExporterConfig: %w", err)
	}
	out := *c
	if out.GRPCOptions == nil {
		out.GRPCOptions = map[string]any{}
	}
	data, err := encode(&out)
	if err != nil {
		return nil, fmt.Errorf("encode ExporterConfig: %w", err)
	}
	return data, nil
}

// ParseExporterConfig decodes and validates an ExporterConfig. Unknown top-level keys are
// ignored, unknown metadata keys are errors.
func ParseExporterConfig(data []byte) (*ExporterConfig, error) {
	c, err := parseExporterConfig(data)
	if err != nil {
		return nil, fmt.Errorf("parse ExporterConfig: %w", err)
	}
	return c, nil
}

func parseExporterConfig(data []byte) (*ExporterConfig, error) {
	c := NewExporterConfig("", "")
	// Unknown top-level keys are ignored (nil allowed keys), as upstream does.
	entries, err := decodeHeader(data, nil, KindExporterConfig, &c.Metadata)
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
		case "grpcOptions":
			err = decodeGRPCOptions(e.value, e.key, &c.GRPCOptions)
		case "description":
			err = decodeOptionalString(e.value, e.key, &c.Description)
		case "motd":
			err = decodeOptionalString(e.value, e.key, &c.Motd)
		case "export":
			err = decodeDriverInstances(e.value, e.key, &c.Export)
		case "hooks":
			err = decodeHooks(e.value, e.key, &c.Hooks)
		case "failureDetection":
			err = decodeFailureDetection(e.value, e.key, &c.FailureDetection)
		case "exitOnLeaseEnd":
			err = decodeBool(e.value, e.key, &c.ExitOnLeaseEnd)
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

func decodeDriverInstances(n *yaml.Node, path string, dst *DriverInstances) error {
	entries, err := mapping(n, path, nil)
	if err != nil {
		return err
	}
	out := make(DriverInstances, 0, len(entries))
	for _, e := range entries {
		var inst DriverInstance
		if err := decodeDriverInstance(e.value, join(path, e.key), &inst); err != nil {
			return err
		}
		out = append(out, NamedDriverInstance{Name: e.key, Instance: inst})
	}
	*dst = out
	return nil
}

// decodeDriverInstance ignores unknown keys, as the Python models do.
func decodeDriverInstance(n *yaml.Node, path string, dst *DriverInstance) error {
	if isNull(resolveAlias(n)) {
		return fmt.Errorf("%s: want a driver instance (type, children or ref), got null (line %d)", path, n.Line)
	}
	entries, err := mapping(n, path, nil)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := join(path, e.key)
		switch e.key {
		case "type":
			err = decodeString(e.value, p, &dst.Type)
		case "description":
			err = decodeOptionalString(e.value, p, &dst.Description)
		case "methods_description":
			err = decodeStringMap(e.value, p, &dst.MethodsDescription)
		case "config":
			err = decodeAny(e.value, p, &dst.Config)
		case "children":
			err = decodeDriverInstances(e.value, p, &dst.Children)
		case "ref":
			err = decodeString(e.value, p, &dst.Ref)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeHooks, decodeHook and decodeFailureDetection ignore unknown keys, as the Python models
// do.
func decodeHooks(n *yaml.Node, path string, dst *Hooks) error {
	entries, err := mapping(n, path, nil)
	if err != nil {
		return err
	}
	for _, e := range entries {
		switch e.key {
		case "beforeLease":
			err = decodeHook(e.value, join(path, e.key), &dst.BeforeLease)
		case "afterLease":
			err = decodeHook(e.value, join(path, e.key), &dst.AfterLease)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func decodeHook(n *yaml.Node, path string, dst **Hook) error {
	if isNull(resolveAlias(n)) {
		*dst = nil
		return nil
	}
	entries, err := mapping(n, path, nil)
	if err != nil {
		return err
	}
	h := &Hook{Timeout: DefaultHookTimeout, OnFailure: HookOnFailureWarn}
	for _, e := range entries {
		p := join(path, e.key)
		switch e.key {
		case "script":
			err = decodeString(e.value, p, &h.Script)
		case "exec":
			err = decodeString(e.value, p, &h.Exec)
		case "timeout":
			err = decodeInt(e.value, p, &h.Timeout)
		case "onFailure":
			err = decodeString(e.value, p, &h.OnFailure)
		}
		if err != nil {
			return err
		}
	}
	*dst = h
	return nil
}

func decodeFailureDetection(n *yaml.Node, path string, dst *FailureDetection) error {
	entries, err := mapping(n, path, nil)
	if err != nil {
		return err
	}
	for _, e := range entries {
		switch e.key {
		case "maxRapidFailures":
			err = decodeInt(e.value, join(path, e.key), &dst.MaxRapidFailures)
		case "rapidFailureWindow":
			err = decodeInt(e.value, join(path, e.key), &dst.RapidFailureWindow)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
