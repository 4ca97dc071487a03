package routers

import (
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// ErrNoRouter is returned by Pick when no router is configured. Its text is the contract's.
var ErrNoRouter = errors.New("no router available")

// Entry is one router as configured.
type Entry struct {
	// Endpoint is the router's advertised gRPC address, host:port without a scheme.
	Endpoint string `json:"endpoint"`
	// Labels are matched against the labels of the exporter being dialled.
	Labels map[string]string `json:"labels,omitempty"`
}

// Router is a configured router and its name.
type Router struct {
	Name string
	Entry
}

// Table is a validated set of routers. The zero value has none. It is immutable and safe for
// concurrent use.
type Table struct {
	// routers sorted by name, so that the pick does not depend on map order.
	routers []Router
}

// New validates the routers and builds a table.
func New(entries map[string]Entry) (*Table, error) {
	t := &Table{routers: make([]Router, 0, len(entries))}
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		e := entries[name]
		if err := validate(name, e); err != nil {
			return nil, err
		}
		t.routers = append(t.routers, Router{Name: name, Entry: Entry{Endpoint: e.Endpoint, Labels: maps.Clone(e.Labels)}})
	}
	return t, nil
}

// Parse reads a table from YAML (or JSON). Unknown fields are errors, so a typo such as
// "endpiont" is not silently a router without an endpoint. An empty document has no routers.
func Parse(data []byte) (*Table, error) {
	var entries map[string]Entry
	if err := yaml.UnmarshalStrict(data, &entries); err != nil {
		return nil, fmt.Errorf("parse router config: %w", err)
	}
	return New(entries)
}

// Load reads a table from a YAML file.
func Load(path string) (*Table, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read router config: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Single is a table of one router named "default", for a controller given just a router
// endpoint (the reference's GRPC_ROUTER_ENDPOINT).
func Single(endpoint string) (*Table, error) {
	return New(map[string]Entry{"default": {Endpoint: endpoint}})
}

// Routers lists the routers, sorted by name.
func (t *Table) Routers() []Router {
	if t == nil {
		return nil
	}
	out := make([]Router, len(t.routers))
	for i, r := range t.routers {
		out[i] = Router{Name: r.Name, Entry: Entry{Endpoint: r.Endpoint, Labels: maps.Clone(r.Labels)}}
	}
	return out
}

// Pick chooses the router for a Dial to an exporter with the given labels; key (the lease's
// UID) spreads leases over equally good routers.
//
// Contract score: the number of exporter labels if the router's labels hold every exporter
// label with the same value, otherwise -1; the highest wins, and with a single router that
// router is always used. Ties, arbitrary in the contract, go to the router with the most
// labels that the exporter carries with the same value (only if it carries all of them: a
// router labelled site=b serves the exporters labelled site=b), then by rendezvous hashing of
// key and router name: every Dial of one lease gets the same router, different leases spread
// over the replicas, and adding or removing a router moves only the leases it gains or loses.
func (t *Table) Pick(exporterLabels map[string]string, key string) (Router, error) {
	if t == nil || len(t.routers) == 0 {
		return Router{}, ErrNoRouter
	}
	best, bestScore, bestAffinity := -1, 0, 0
	var bestHash uint64
	for i, r := range t.routers {
		score, affinity := contains(r.Labels, exporterLabels), contains(exporterLabels, r.Labels)
		hash := rendezvousHash(key, r.Name)
		better := best < 0 || score > bestScore ||
			(score == bestScore && affinity > bestAffinity) ||
			(score == bestScore && affinity == bestAffinity && hash > bestHash)
		if better {
			best, bestScore, bestAffinity, bestHash = i, score, affinity, hash
		}
	}
	r := t.routers[best]
	return Router{Name: r.Name, Entry: Entry{Endpoint: r.Endpoint, Labels: maps.Clone(r.Labels)}}, nil
}

func rendezvousHash(key, router string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(router))
	return h.Sum64()
}

// contains is len(want) if have holds every label of want with the same value, else -1.
func contains(have, want map[string]string) int {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return -1
		}
	}
	return len(want)
}

func validate(name string, e Entry) error {
	if name == "" {
		return errors.New("router with an empty name")
	}
	field := fmt.Sprintf("routers[%q]", name)
	host, port, err := net.SplitHostPort(e.Endpoint)
	if err != nil {
		return fmt.Errorf("%s.endpoint %q: want host:port: %w", field, e.Endpoint, err)
	}
	if host == "" {
		return fmt.Errorf("%s.endpoint %q: empty host", field, e.Endpoint)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%s.endpoint %q: port must be a number from 1 to 65535", field, e.Endpoint)
	}
	for k, v := range e.Labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return fmt.Errorf("%s.labels: key %q: %s", field, k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return fmt.Errorf("%s.labels[%q]: value %q: %s", field, k, v, strings.Join(errs, "; "))
		}
	}
	return nil
}
