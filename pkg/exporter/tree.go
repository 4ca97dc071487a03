package exporter

import (
	"fmt"
	"maps"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"jumpstarter.dev/service/pkg/clientconfig"
	"jumpstarter.dev/service/pkg/drivers"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// instance is one driver of the tree.
type instance struct {
	uuid   string
	path   string // export.a.children.b, for logs
	driver drivers.Driver
}

// tree is the exporter's driver tree: the instances by UUID and their reports, root first,
// then depth-first in file order (the Python exporter's enumerate order).
type tree struct {
	byUUID  map[string]*instance
	reports []*jumpstarterv1.DriverInstanceReport
}

// buildTree instantiates the `export:` section under a Composite root described by the
// config's description. Errors name the entry ("export.ssh: config.port: ...").
func buildTree(reg *drivers.Registry, cfg *clientconfig.ExporterConfig) (*tree, error) {
	t := &tree{byUUID: map[string]*instance{}}
	root := t.add("export", drivers.Composite{}, "", "", cfg.Description, nil)
	if err := t.addChildren(reg, root, "export", cfg.Export); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *tree) addChildren(reg *drivers.Registry, parent, path string, children clientconfig.DriverInstances) error {
	for _, child := range children {
		p := path + "." + child.Name
		inst := child.Instance
		if inst.Ref != "" {
			return fmt.Errorf("%s.ref: proxy instances are not supported by this exporter", p)
		}
		var (
			drv drivers.Driver = drivers.Composite{}
			err error
		)
		if inst.Type != "" {
			if drv, err = reg.New(inst.Type, inst.Config); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		methods := map[string]string{}
		if d, ok := drv.(drivers.MethodsDescriber); ok {
			maps.Copy(methods, d.MethodsDescription())
		}
		maps.Copy(methods, inst.MethodsDescription)
		id := t.add(p, drv, parent, child.Name, inst.Description, methods)
		if err := t.addChildren(reg, id, p+".children", inst.Children); err != nil {
			return err
		}
	}
	return nil
}

// add records a driver and its report and returns its new UUID.
func (t *tree) add(path string, drv drivers.Driver, parent, name string, description *string, methods map[string]string) string {
	id := uuid.NewString()
	t.byUUID[id] = &instance{uuid: id, path: path, driver: drv}
	labels := map[string]string{drivers.LabelClient: drv.Client()}
	report := &jumpstarterv1.DriverInstanceReport{Uuid: id, Labels: labels, MethodsDescription: methods}
	if name != "" {
		labels[drivers.LabelName] = name
	}
	if parent != "" {
		report.ParentUuid = proto.String(parent)
	}
	if description != nil && *description != "" {
		report.Description = proto.String(*description)
	}
	t.reports = append(t.reports, report)
	return id
}
