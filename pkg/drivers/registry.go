package drivers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Factory builds a driver from the `config:` map of its `export:` entry (nil when absent).
// Errors name the offending key; the caller adds the entry's path.
type Factory func(config map[string]any) (Driver, error)

// Registry maps driver type names, as written in `type:`, to factories.
type Registry struct {
	factories map[string]Factory
}

// NewRegistry is an empty Registry.
func NewRegistry() *Registry {
	return &Registry{factories: map[string]Factory{}}
}

// Register makes factory the builder of every name in names: a short Go name such as "tcp"
// and, where the driver stands in for an upstream one, the upstream class path such as
// "jumpstarter_driver_network.driver.TcpNetwork". A name can be registered once.
func (r *Registry) Register(factory Factory, names ...string) error {
	if factory == nil || len(names) == 0 {
		return errors.New("register driver: want a factory and at least one type name")
	}
	for _, name := range names {
		if name == "" {
			return errors.New("register driver: empty type name")
		}
		if _, dup := r.factories[name]; dup {
			return fmt.Errorf("register driver %q: already registered", name)
		}
	}
	for _, name := range names {
		r.factories[name] = factory
	}
	return nil
}

// New builds a driver of type typeName.
func (r *Registry) New(typeName string, config map[string]any) (Driver, error) {
	factory, ok := r.factories[typeName]
	if !ok {
		return nil, fmt.Errorf("unknown driver type %q (known: %s)", typeName, strings.Join(r.Types(), ", "))
	}
	return factory(config)
}

// Types are the registered type names, sorted.
func (r *Registry) Types() []string {
	return slices.Sorted(maps.Keys(r.factories))
}

// baseKeys are config keys every upstream driver accepts (fields of the Driver base class);
// DecodeConfig accepts and ignores them.
var baseKeys = []string{"log_level"}

// DecodeConfig decodes a driver's config map into dst, a pointer to a struct with json tags.
// Unknown keys are errors, as for the upstream drivers (pydantic dataclasses), except the base
// keys every upstream driver has (log_level); errors name the key as "config.<key>".
func DecodeConfig(config map[string]any, dst any) error {
	config = maps.Clone(config)
	if config == nil {
		config = map[string]any{}
	}
	for _, k := range baseKeys {
		delete(config, k)
	}
	data, err := json.Marshal(config)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return fmt.Errorf("config.%s: want %s, got a %s", typeErr.Field, typeErr.Type, typeErr.Value)
		}
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return fmt.Errorf("config.%s: unknown key", strings.Trim(field, `"`))
		}
		return fmt.Errorf("config: %w", err)
	}
	return nil
}
