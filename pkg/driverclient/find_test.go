package driverclient

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

func report(uuid, parent, name, client string) *jumpstarterv1.DriverInstanceReport {
	r := &jumpstarterv1.DriverInstanceReport{Uuid: uuid, Labels: map[string]string{labelClient: client}}
	if parent != "" {
		r.ParentUuid = proto.String(parent)
	}
	if name != "" {
		r.Labels[labelName] = name
	}
	return r
}

func TestFind(t *testing.T) {
	c := &Client{report: &jumpstarterv1.GetReportResponse{Reports: []*jumpstarterv1.DriverInstanceReport{
		report("root", "", "", CompositeClient),
		report("p1", "root", "power", PowerClient),
		report("sh", "root", "sh", ShellClient),
		report("dut", "root", "dut", CompositeClient),
		report("p2", "dut", "power", PowerClient),
		report("ser", "dut", "console", PySerialClient),
	}}}
	for _, tc := range []struct {
		name, driver, client string
		want, err            string
	}{
		{name: "by name", driver: "sh", want: "sh"},
		{name: "path wins over a duplicate name", driver: "power", client: PowerClient, want: "p1"},
		{name: "nested path", driver: "dut.power", want: "p2"},
		{name: "nested unique name", driver: "console", want: "ser"},
		{name: "only one of a class", client: ShellClient, want: "sh"},
		{name: "two of a class", client: PowerClient, err: "has 2 jumpstarter_driver_power.client.PowerClient drivers, name one: power (jumpstarter_driver_power.client.PowerClient), dut.power"},
		{name: "none of a class", client: NetworkClient, err: "has no jumpstarter_driver_network.client.NetworkClient driver"},
		{name: "wrong class", driver: "sh", client: PowerClient, err: `no jumpstarter_driver_power.client.PowerClient driver called "sh"`},
		{name: "unknown", driver: "nope", err: `no driver called "nope" (drivers: power (`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := c.Find(t.Context(), tc.driver, tc.client)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Find: %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || d.UUID != tc.want {
				t.Fatalf("Find = %+v, %v; want %s", d, err, tc.want)
			}
		})
	}
	if _, err := c.findStreamDriver(t.Context(), ""); err != nil {
		t.Errorf("the only serial driver: %v", err)
	}
}

func TestShellChunk(t *testing.T) {
	out, errText, code, err := shellChunk([]any{"o", "e", 3.0})
	if err != nil || out != "o" || errText != "e" || code == nil || *code != 3 {
		t.Errorf("shellChunk = %q %q %v %v", out, errText, code, err)
	}
	if _, _, code, _ := shellChunk([]any{"o", "", nil}); code != nil {
		t.Errorf("a chunk without exit code gave %d", *code)
	}
	if _, _, _, err := shellChunk("x"); err == nil {
		t.Error("shellChunk accepted a string")
	}
}
