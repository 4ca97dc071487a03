package clientconfig

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/utils/ptr"
)

// The two files of wire contract §4.2 and §4.3, byte for byte.
const (
	goldenClient   = "testdata/client-alice.yaml"
	goldenExporter = "testdata/exporter-board1.yaml"
)

func readGolden(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestClientConfigGolden(t *testing.T) {
	golden := readGolden(t, goldenClient)
	c := NewClientConfig("lab", "alice")
	c.Endpoint = "grpc.example.com:443"
	c.TLS = TLS{CA: "LS0tLS1CRUdJTi4uLg=="}
	c.Token = "eyJhbGciOiJFUzI1NiIs..."
	got, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(golden) {
		t.Errorf("Marshal:\n%s\nwant (%s):\n%s", got, goldenClient, golden)
	}
	parsed, err := ParseClientConfig(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(parsed, c) {
		t.Errorf("ParseClientConfig(golden) = %+v, want %+v", parsed, c)
	}
}

func TestExporterConfigGolden(t *testing.T) {
	golden := readGolden(t, goldenExporter)
	c := NewExporterConfig("lab", "board1")
	c.Endpoint = "grpc.example.com:443"
	c.TLS = TLS{CA: "LS0tLS1CRUdJTi4uLg=="}
	c.Token = "eyJhbGciOiJFUzI1NiIs..."
	got, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(golden) {
		t.Errorf("Marshal:\n%s\nwant (%s):\n%s", got, goldenExporter, golden)
	}
	parsed, err := ParseExporterConfig(golden)
	if err != nil {
		t.Fatal(err)
	}
	parsed.Export = nil // parsed as an empty, non-nil map
	if !reflect.DeepEqual(parsed, c) {
		t.Errorf("ParseExporterConfig(golden) = %+v, want %+v", parsed, c)
	}
}

func TestClientConfigRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   string
		// want is the file written back; empty means in itself.
		want string
	}{
		{
			name: "everything set, non-default leases",
			in: `apiVersion: jumpstarter.dev/v1alpha1
kind: ClientConfig
metadata:
  namespace: lab
  name: ci
endpoint: 127.0.0.1:8082
tls:
  ca: ""
  insecure: true
token: a.b.c
refresh_token: r
grpcOptions:
  grpc.keepalive_time_ms: 20000
  grpc.lb_policy_name: round_robin
drivers:
  allow:
  - jumpstarter_driver_power
  - jumpstarter_driver_network
  unsafe: true
shell:
  use_profiles: true
leases:
  acquisition_timeout: 60
  dial_timeout: 30.5
  retry_timeout: 0
`,
		},
		{
			name: "default leases are dropped, unknown tls and shell keys ignored",
			in: `apiVersion: jumpstarter.dev/v1alpha1
kind: ClientConfig
metadata: {namespace: lab, name: alice}
endpoint: e:1
tls: {ca: "", insecure: false, future: 1}
token: t
grpcOptions: {}
drivers: {allow: [], unsafe: false}
shell: {use_profiles: false, other: x}
leases: {acquisition_timeout: 7200, dial_timeout: 60.0, retry_timeout: 300.0}
`,
			want: `apiVersion: jumpstarter.dev/v1alpha1
kind: ClientConfig
metadata:
  namespace: lab
  name: alice
endpoint: e:1
tls:
  ca: ""
  insecure: false
token: t
grpcOptions: {}
drivers:
  allow: []
  unsafe: false
shell:
  use_profiles: false
`,
		},
		{
			name: "minimal file: the optional blocks get their defaults",
			in: `apiVersion: jumpstarter.dev/v1alpha1
kind: ClientConfig
metadata: {namespace: lab, name: alice}
endpoint: e:1
token: t
leases: {dial_timeout: 10}
`,
			want: `apiVersion: jumpstarter.dev/v1alpha1
kind: ClientConfig
metadata:
  namespace: lab
  name: alice
endpoint: e:1
tls:
  ca: ""
  insecure: false
token: t
grpcOptions: {}
drivers:
  allow: []
  unsafe: false
shell:
  use_profiles: false
leases:
  acquisition_timeout: 7200
  dial_timeout: 10
  retry_timeout: 300
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseClientConfig([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == "" {
				want = tt.in
			}
			if string(out) != want {
				t.Errorf("written back:\n%s\nwant:\n%s", out, want)
			}
			again, err := ParseClientConfig(out)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(again.LeaseSettings(), c.LeaseSettings()) || again.Token != c.Token || !reflect.DeepEqual(again.Drivers, c.Drivers) || !reflect.DeepEqual(again.GRPCOptions, c.GRPCOptions) {
				t.Errorf("second parse %+v differs from first %+v", again, c)
			}
		})
	}
}

func TestExporterConfigRoundTrip(t *testing.T) {
	in := `apiVersion: jumpstarter.dev/v1alpha1
kind: ExporterConfig
metadata:
  namespace: lab
  name: board1
endpoint: 127.0.0.1:8082
tls:
  ca: LS0tLS1CRUdJTi4uLg==
  insecure: false
token: tok
grpcOptions: {}
description: Raspberry Pi 4 on the bench
motd: be nice
export:
  power:
    type: jumpstarter_driver_power.driver.MockPower
    description: the PDU outlet
    methods_description:
      "on": switch it on
    config:
      outlet: 3
      host: pdu.local
  storage:
    type: jumpstarter_driver_opendal.driver.MockStorageMux
  console:
    children:
      serial:
        type: jumpstarter_driver_pyserial.driver.PySerial
        config:
          baudrate: 115200
          url: /dev/ttyUSB0
      alias:
        ref: power
hooks:
  beforeLease:
    script: j power on
    exec: /bin/bash
    timeout: 30
    onFailure: endLease
  afterLease: null
failureDetection:
  maxRapidFailures: 3
  rapidFailureWindow: 120
exitOnLeaseEnd: true
`
	c, err := ParseExporterConfig([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range c.Export {
		names = append(names, e.Name)
	}
	if want := []string{"power", "storage", "console"}; !reflect.DeepEqual(names, want) {
		t.Errorf("export order %v, want %v (file order)", names, want)
	}
	console, _ := c.Export.Get("console")
	if alias, ok := console.Children.Get("alias"); !ok || alias.Ref != "power" {
		t.Errorf("console.children.alias = %+v, want ref power", alias)
	}
	power, _ := c.Export.Get("power")
	if power.Config["outlet"] != 3 || power.Config["host"] != "pdu.local" || power.MethodsDescription["on"] != "switch it on" {
		t.Errorf("power = %+v", power)
	}
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// Driver config keys come back sorted; the fixture has them sorted except in power.
	want := strings.Replace(in, "      outlet: 3\n      host: pdu.local\n", "      host: pdu.local\n      outlet: 3\n", 1)
	if string(out) != want {
		t.Errorf("written back:\n%s\nwant:\n%s", out, want)
	}
	again, err := ParseExporterConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, c) {
		t.Errorf("second parse differs:\n%+v\n%+v", again, c)
	}
}

func TestParseErrorsNameTheKey(t *testing.T) {
	const clientHead = "apiVersion: jumpstarter.dev/v1alpha1\nkind: ClientConfig\nmetadata: {namespace: lab, name: alice}\n"
	const exporterHead = "apiVersion: jumpstarter.dev/v1alpha1\nkind: ExporterConfig\nmetadata: {namespace: lab, name: b}\n"
	tests := []struct {
		name     string
		exporter bool
		in       string
		want     string // substring of the error; empty means no error
	}{
		{name: "unknown top-level key", in: clientHead + "endpoints: x\n", want: "endpoints: unknown key (line 4)"},
		{name: "unknown metadata key", in: "apiVersion: jumpstarter.dev/v1alpha1\nkind: ClientConfig\nmetadata: {namespace: lab, name: a, uid: x}\n", want: "metadata.uid: unknown key"},
		{name: "unknown drivers key", in: clientHead + "drivers: {allowed: []}\n", want: "drivers.allowed: unknown key"},
		{name: "unknown leases key", in: clientHead + "leases: {timeout: 5}\n", want: "leases.timeout: unknown key"},
		{name: "unknown tls key ignored", in: clientHead + "tls: {cert: x}\n"},
		{name: "unknown shell key ignored", in: clientHead + "shell: {x: 1}\n"},
		{name: "wrong apiVersion", in: "apiVersion: v1\nkind: ClientConfig\nmetadata: {namespace: lab, name: a}\n", want: `apiVersion: "v1", want "jumpstarter.dev/v1alpha1"`},
		{name: "wrong kind", in: "apiVersion: jumpstarter.dev/v1alpha1\nkind: ExporterConfig\nmetadata: {namespace: lab, name: a}\n", want: `kind: "ExporterConfig", want "ClientConfig"`},
		{name: "missing kind", in: "apiVersion: jumpstarter.dev/v1alpha1\nmetadata: {namespace: lab, name: a}\n", want: "kind: missing"},
		{name: "missing metadata", in: "apiVersion: jumpstarter.dev/v1alpha1\nkind: ClientConfig\n", want: "metadata: missing"},
		{name: "missing name", in: "apiVersion: jumpstarter.dev/v1alpha1\nkind: ClientConfig\nmetadata: {namespace: lab}\n", want: "metadata.name: required"},
		{name: "bool as string", in: clientHead + "tls: {insecure: \"yes\"}\n", want: `tls.insecure: want true or false, got "yes" (str) (line 4)`},
		{name: "token as mapping", in: clientHead + "token: {a: b}\n", want: "token: want a string, got a mapping"},
		{name: "allow item", in: clientHead + "drivers: {allow: [a, 1]}\n", want: "drivers.allow[1]: want a string"},
		{name: "acquisition timeout too short", in: clientHead + "leases: {acquisition_timeout: 3}\n", want: "leases.acquisition_timeout: 3, want at least 5"},
		{name: "dial timeout not a number", in: clientHead + "leases: {dial_timeout: soon}\n", want: "leases.dial_timeout: want a number"},
		{name: "grpc option list", in: clientHead + "grpcOptions: {a: [1]}\n", want: "grpcOptions.a: want a string or an integer, got a list"},
		{name: "ca not base64", in: clientHead + "tls: {ca: \"not base64!\"}\n", want: "tls.ca: not base64"},
		{name: "duplicate key", in: clientHead + "token: a\ntoken: b\n", want: "token: duplicate key"},
		{name: "not a mapping", in: "- a\n", want: "not a mapping"},
		{name: "empty", in: "", want: "empty document"},
		{name: "exporter: unknown top-level key ignored", exporter: true, in: exporterHead + "future: {a: 1}\n"},
		{name: "exporter: unknown metadata key", exporter: true, in: "apiVersion: jumpstarter.dev/v1alpha1\nkind: ExporterConfig\nmetadata: {namespace: lab, name: b, labels: {}}\n", want: "metadata.labels: unknown key"},
		{name: "exporter: null driver", exporter: true, in: exporterHead + "export:\n  power:\n", want: "export.power: want a driver instance"},
		{name: "exporter: nested driver type", exporter: true, in: exporterHead + "export:\n  a:\n    children:\n      b: {type: 3}\n", want: "export.a.children.b.type: want a string"},
		{name: "exporter: ref with type", exporter: true, in: exporterHead + "export: {a: {ref: b, type: c}}\n", want: "export.a: a proxy (ref) has no type"},
		{name: "exporter: hook onFailure", exporter: true, in: exporterHead + "hooks: {afterLease: {script: x, onFailure: panic}}\n", want: `hooks.afterLease.onFailure: "panic"`},
		{name: "exporter: hook without script", exporter: true, in: exporterHead + "hooks: {beforeLease: {timeout: 3}}\n", want: "hooks.beforeLease.script: required"},
		{name: "exporter: failure detection", exporter: true, in: exporterHead + "failureDetection: {maxRapidFailures: x}\n", want: "failureDetection.maxRapidFailures: want an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.exporter {
				_, err = ParseExporterConfig([]byte(tt.in))
			} else {
				_, err = ParseClientConfig([]byte(tt.in))
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && err == nil:
				t.Errorf("no error, want one containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestMarshalValidates(t *testing.T) {
	c := NewClientConfig("lab", "")
	if _, err := c.Marshal(); err == nil || !strings.Contains(err.Error(), "metadata.name: required") {
		t.Errorf("Marshal without a name: %v", err)
	}
	c = NewClientConfig("lab", "a")
	c.GRPCOptions["x"] = 1.5
	if _, err := c.Marshal(); err == nil || !strings.Contains(err.Error(), "grpcOptions.x") {
		t.Errorf("Marshal with a float option: %v", err)
	}
	e := NewExporterConfig("lab", "b")
	e.Export = DriverInstances{{Name: "a"}, {Name: "a"}}
	if _, err := e.Marshal(); err == nil || !strings.Contains(err.Error(), "export.a: duplicate") {
		t.Errorf("Marshal with a duplicate driver: %v", err)
	}
}

func TestEncodeCA(t *testing.T) {
	pem := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	tls := TLS{CA: EncodeCA(pem)}
	got, err := tls.CABundle()
	if err != nil || string(got) != string(pem) {
		t.Errorf("CABundle() = %q, %v; want %q", got, err, pem)
	}
	if EncodeCA(nil) != "" || EncodeCA([]byte("\n")) != "" {
		t.Error("EncodeCA of an empty bundle is not empty")
	}
	if got, err := (TLS{}).CABundle(); got != nil || err != nil {
		t.Errorf("empty CABundle() = %q, %v", got, err)
	}
}

func TestSaveIsPrivateAndAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "alice.yaml")
	// An existing, readable file is replaced by a private one.
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := NewClientConfig("lab", "alice")
	c.Token = "secret"
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != FileMode {
		t.Errorf("mode %v, want %v", info.Mode().Perm(), FileMode)
	}
	loaded, err := LoadClientConfig(path)
	if err != nil || loaded.Token != "secret" {
		t.Errorf("LoadClientConfig = %+v, %v", loaded, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("folder holds %d files, want only the config (no temporary file left)", len(entries))
	}
	// A new folder is private too.
	e := NewExporterConfig("lab", "b")
	epath := filepath.Join(dir, "new", "b.yaml")
	if err := e.Save(epath); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(filepath.Dir(epath)); err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("new folder mode %v, %v; want 0700", info.Mode().Perm(), err)
	}
	if _, err := LoadExporterConfig(epath); err != nil {
		t.Error(err)
	}
	if _, err := LoadExporterConfig(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("LoadExporterConfig of a missing file: no error")
	}
}

func TestPaths(t *testing.T) {
	tests := []struct {
		name, jmpHome, xdg, home string
		want                     string
	}{
		{name: "JMP_CLIENT_CONFIG_HOME", jmpHome: "/j", xdg: "/x", home: "/h", want: "/j/clients/alice.yaml"},
		{name: "XDG_CONFIG_HOME", xdg: "/x", home: "/h", want: "/x/jumpstarter/clients/alice.yaml"},
		{name: "home", home: "/h", want: "/h/.config/jumpstarter/clients/alice.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvConfigHome, tt.jmpHome)
			t.Setenv(EnvXDGConfigHome, tt.xdg)
			t.Setenv("HOME", tt.home)
			got, err := ClientConfigPath("alice")
			if err != nil || got != tt.want {
				t.Errorf("ClientConfigPath = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	t.Setenv(EnvConfigHome, "/j")
	if got, _ := ExporterConfigPath("b"); got != "/j/exporters/b.yaml" {
		t.Errorf("ExporterConfigPath = %q", got)
	}
	if _, err := ClientConfigPath("../x"); err == nil {
		t.Error("ClientConfigPath accepts a folder in the alias")
	}
}

func TestSelectFirstClient(t *testing.T) {
	home := t.TempDir()
	t.Setenv(EnvConfigHome, home)
	save := func(alias string) {
		t.Helper()
		path, err := ClientConfigPath(alias)
		if err != nil {
			t.Fatal(err)
		}
		if err := NewClientConfig("lab", alias).Save(path); err != nil {
			t.Fatal(err)
		}
	}
	save("alice")
	if changed, err := SelectFirstClient("alice"); err != nil || !changed {
		t.Fatalf("SelectFirstClient(alice) = %v, %v; want true", changed, err)
	}
	data, err := os.ReadFile(filepath.Join(home, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := "apiVersion: jumpstarter.dev/v1alpha1\nkind: UserConfig\nconfig:\n  current-client: alice\n"
	if string(data) != want {
		t.Errorf("user config:\n%s\nwant:\n%s", data, want)
	}
	save("bob")
	if changed, err := SelectFirstClient("bob"); err != nil || changed {
		t.Errorf("SelectFirstClient(bob) with two clients = %v, %v; want false", changed, err)
	}
	u, err := ParseUserConfig(data)
	if err != nil || !reflect.DeepEqual(u.Config.CurrentClient, ptr.To("alice")) {
		t.Errorf("ParseUserConfig = %+v, %v", u, err)
	}
}
