package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"

	"jumpstarter.dev/service/pkg/jmpclient"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// outputName prints bare names, one a line, for scripts (as kubectl's -o name).
const outputName = "name"

// none is what an empty cell shows, as in the admin tables.
const none = "<none>"

// printTable prints a kubectl-style table.
func printTable(w io.Writer, header []string, rows [][]any) error {
	table := &metav1.Table{}
	for _, h := range header {
		table.ColumnDefinitions = append(table.ColumnDefinitions, metav1.TableColumnDefinition{Name: h, Type: "string"})
	}
	for _, r := range rows {
		table.Rows = append(table.Rows, metav1.TableRow{Cells: r})
	}
	return printers.NewTablePrinter(printers.PrintOptions{}).PrintObj(table, w)
}

// printStructured prints v, a value of protocol messages, as indented JSON or YAML. Messages
// are in their protojson form (lowerCamelCase fields, RFC 3339 times, durations as "1800s").
func printStructured(w io.Writer, format string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if format == outputYAML {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return err
		}
	} else {
		data = append(data, '\n')
	}
	_, err = w.Write(data)
	return err
}

// protoValue is a message as a generic JSON value, to be printed or extended.
func protoValue(m proto.Message) (map[string]any, error) {
	data, err := protojson.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	return out, json.Unmarshal(data, &out)
}

// leaseState is the STATE cell of a lease: Ready, Pending (reason), Ended (reason), the
// condition that failed it, or Waiting before the controller said anything.
func leaseState(l *clientv1.Lease) string {
	state, cond := jmpclient.Evaluate(l)
	switch {
	case state == jmpclient.StateReady:
		return "Ready"
	case cond != nil && cond.GetType() == jmpclient.ConditionReady:
		return "Ended (" + cond.GetReason() + ")"
	case cond != nil && state != jmpclient.StateWaiting:
		return cond.GetType() + " (" + cond.GetReason() + ")"
	case cond != nil:
		return "Pending (" + cond.GetReason() + ")"
	}
	return "Waiting"
}

// leaseEnd is when a lease ends or ended, as the Python tools compute it: the effective end,
// else the effective begin plus the duration, else the requested end; zero when unknown.
func leaseEnd(l *clientv1.Lease) time.Time {
	switch {
	case l.GetEffectiveEndTime() != nil:
		return l.GetEffectiveEndTime().AsTime()
	case l.GetEffectiveBeginTime() != nil && l.GetDuration() != nil:
		return l.GetEffectiveBeginTime().AsTime().Add(l.GetDuration().AsDuration())
	case l.GetEndTime() != nil:
		return l.GetEndTime().AsTime()
	}
	return time.Time{}
}

func printLeases(w io.Writer, format string, leases []*clientv1.Lease, now time.Time) error {
	switch format {
	case outputName:
		for _, l := range leases {
			fmt.Fprintln(w, jmpclient.BareName(l.GetName()))
		}
		return nil
	case outputJSON, outputYAML:
		items := make([]map[string]any, 0, len(leases))
		for _, l := range leases {
			v, err := protoValue(l)
			if err != nil {
				return err
			}
			items = append(items, v)
		}
		return printStructured(w, format, map[string]any{"leases": items})
	}
	var rows [][]any
	for _, l := range leases {
		exporter := none
		if e := l.GetExporter(); e != "" {
			exporter = jmpclient.BareName(e)
		} else if e := l.GetExporterName(); e != "" {
			exporter = e + " (requested)"
		}
		d := none
		if l.GetDuration() != nil {
			d = duration.HumanDuration(l.GetDuration().AsDuration())
		}
		remaining := none
		if end := leaseEnd(l); !end.IsZero() && leaseState(l) == "Ready" {
			remaining = duration.HumanDuration(max(end.Sub(now), 0))
		}
		rows = append(rows, []any{jmpclient.BareName(l.GetName()), leaseState(l), orNone(l.GetSelector()), exporter,
			jmpclient.BareName(l.GetClient()), d, remaining, labelString(l.GetTags())})
	}
	return printTable(w, []string{"Name", "State", "Selector", "Exporter", "Client", "Duration", "Remaining", "Tags"}, rows)
}

// exporterRow is an exporter with the active lease that holds it, if any.
type exporterRow struct {
	exporter *clientv1.Exporter
	lease    *clientv1.Lease
}

func printExporters(w io.Writer, format string, rows []exporterRow) error {
	switch format {
	case outputName:
		for _, r := range rows {
			fmt.Fprintln(w, jmpclient.BareName(r.exporter.GetName()))
		}
		return nil
	case outputJSON, outputYAML:
		items := make([]map[string]any, 0, len(rows))
		for _, r := range rows {
			v, err := protoValue(r.exporter)
			if err != nil {
				return err
			}
			// online is deprecated on the wire but what people ask; print it even when false.
			v["online"] = r.exporter.GetOnline()
			v["leased"] = r.lease != nil
			if r.lease != nil {
				v["lease"] = r.lease.GetName()
				v["leaseClient"] = r.lease.GetClient()
			}
			items = append(items, v)
		}
		return printStructured(w, format, map[string]any{"exporters": items})
	}
	var cells [][]any
	for _, r := range rows {
		e := r.exporter
		leasedBy := "false"
		if r.lease != nil {
			leasedBy = "true"
		}
		status := exporterStatus(e.GetStatus())
		if e.Enabled != nil && !e.GetEnabled() {
			status += " (disabled)"
		}
		cells = append(cells, []any{jmpclient.BareName(e.GetName()), fmt.Sprint(e.GetOnline()), leasedBy, status, labelString(e.GetLabels())})
	}
	return printTable(w, []string{"Name", "Online", "Leased", "Status", "Labels"}, cells)
}

// exporterStatus is EXPORTER_STATUS_LEASE_READY as LeaseReady.
func exporterStatus(s jumpstarterv1.ExporterStatus) string {
	words := strings.Split(strings.TrimPrefix(s.String(), "EXPORTER_STATUS_"), "_")
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + strings.ToLower(w[1:])
	}
	return strings.Join(words, "")
}

func labelString(m map[string]string) string {
	if len(m) == 0 {
		return none
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}
