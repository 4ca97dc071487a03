package routers

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    []string // names in order
		wantErr string
	}{
		{"empty", "", nil, ""},
		{"two", "b:\n  endpoint: b.example:8083\na:\n  endpoint: 10.0.0.1:443\n  labels: {site: a}\n", []string{"a", "b"}, ""},
		{"IPv6", "v6:\n  endpoint: \"[::1]:8083\"\n", []string{"v6"}, ""},
		{"unknown field", "a:\n  endpiont: a:1\n", nil, "endpiont"},
		{"no endpoint", "a:\n  labels: {site: a}\n", nil, `routers["a"].endpoint`},
		{"no port", "a:\n  endpoint: a.example\n", nil, `routers["a"].endpoint`},
		{"scheme", "a:\n  endpoint: https://a.example:443\n", nil, `routers["a"].endpoint`},
		{"bad port", "a:\n  endpoint: a.example:http\n", nil, "port must be a number"},
		{"empty host", "a:\n  endpoint: \":8083\"\n", nil, "empty host"},
		{"bad label key", "a:\n  endpoint: a:1\n  labels: {\"-x\": y}\n", nil, `routers["a"].labels: key "-x"`},
		{"bad label value", "a:\n  endpoint: a:1\n  labels: {x: \"a b\"}\n", nil, `routers["a"].labels["x"]`},
		{"not a map", "- a\n", nil, "parse router config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table, err := Parse([]byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, r := range table.Routers() {
				names = append(names, r.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.want, ",") {
				t.Errorf("routers = %v, want %v", names, tt.want)
			}
		})
	}
}

func TestPick(t *testing.T) {
	table, err := New(map[string]Entry{
		"default": {Endpoint: "default:1"},
		"zz":      {Endpoint: "zz:1"},
		"site-a":  {Endpoint: "a:1", Labels: map[string]string{"site": "a"}},
		"site-b":  {Endpoint: "b:1", Labels: map[string]string{"site": "b"}},
		"exact":   {Endpoint: "exact:1", Labels: map[string]string{"site": "c", "board": "rpi4", "room": "1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		exporter map[string]string
		want     string
	}{

		{"contract score: router holds every exporter label", map[string]string{"site": "c", "board": "rpi4"}, "exact"},
		{"site label with more exporter labels: tie broken by affinity", map[string]string{"site": "b", "board": "rpi4", "jumpstarter.dev/name": "x"}, "site-b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 20 { // map order must not matter
				got, err := table.Pick(tt.exporter, "lease-uid")
				if err != nil {
					t.Fatal(err)
				}
				if got.Name != tt.want {
					t.Fatalf("Pick(%v) = %s, want %s", tt.exporter, got.Name, tt.want)
				}
			}
		})
	}
}

// TestPickSpreadsTies: leases whose exporters suit several routers equally are spread over
// them, each lease always getting the same one.
func TestPickSpreadsTies(t *testing.T) {
	table, err := New(map[string]Entry{
		"router-0": {Endpoint: "r0:1"},
		"router-1": {Endpoint: "r1:1"},
		"site-a":   {Endpoint: "a:1", Labels: map[string]string{"site": "a"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for i := range 200 {
		key := fmt.Sprintf("uid-%d", i)
		first, err := table.Pick(map[string]string{"site": "q"}, key)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := table.Pick(map[string]string{"site": "q"}, key)
		if again.Name != first.Name {
			t.Fatalf("lease %s got %s, then %s", key, first.Name, again.Name)
		}
		counts[first.Name]++
	}
	if counts["site-a"] != 0 || counts["router-0"] < 60 || counts["router-1"] < 60 {
		t.Errorf("200 leases over two unlabelled routers: %v, want an even spread and none on site-a", counts)
	}
}

func TestPickSingleAndNone(t *testing.T) {
	single, err := Single("router.example:8083")
	if err != nil {
		t.Fatal(err)
	}
	got, err := single.Pick(map[string]string{"site": "anything"}, "k")
	if err != nil || got.Endpoint != "router.example:8083" {
		t.Errorf("single Pick = %+v, %v", got, err)
	}
	for _, table := range []*Table{nil, {}} {
		if _, err := table.Pick(nil, "k"); !errors.Is(err, ErrNoRouter) || err.Error() != "no router available" {
			t.Errorf("empty Pick error = %v, want %q", err, "no router available")
		}
	}
	if _, err := Single("no-port"); err == nil {
		t.Error("Single accepted an endpoint without a port")
	}
}

func TestLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routers.yaml")
	if err := os.WriteFile(path, []byte("default:\n  endpoint: r:8083\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	table, err := Load(path)
	if err != nil || len(table.Routers()) != 1 {
		t.Fatalf("Load = %v, %v", table, err)
	}
	if _, err := Load(path + ".missing"); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}
