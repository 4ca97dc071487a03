package lab

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

// ControllerClusterRole is the generated ClusterRole of our controller (config/rbac).
const ControllerClusterRole = "jumpstarter-controller"

// controllerBindings grant our controller its generated ClusterRole, and in kube-system what
// leader election needs (the lab runs the controller with --leader-election-namespace=kube-system,
// which the generated role does not cover).
const controllerBindings = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  # Not "jumpstarter-controller": config/rbac has a binding of that name for the in-cluster
  # ServiceAccount, and the two must not overwrite each other.
  name: jumpstarter-lab-controller
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: ` + ControllerClusterRole + `
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: ` + ControllerUser + `
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: jumpstarter-lab-leader-election
  namespace: kube-system
rules:
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: jumpstarter-lab-leader-election
  namespace: kube-system
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: jumpstarter-lab-leader-election
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: ` + ControllerUser + `
`

// ConfigManifests returns the manifests the lab applies from a config folder: the CRDs in
// crd/bases and the controller's generated ClusterRole in rbac, in that order. Missing folders give no files.
func ConfigManifests(configDir string) (crds, rbac []string, err error) {
	crds, err = filepath.Glob(filepath.Join(configDir, "crd", "bases", "*.yaml"))
	if err != nil {
		return nil, nil, err
	}
	// Only the generated ClusterRole: the rest of config/rbac binds it to in-cluster
	// ServiceAccounts, while the lab's controller runs as a certificate user bound above.
	rbac, err = filepath.Glob(filepath.Join(configDir, "rbac", "role.yaml"))
	if err != nil {
		return nil, nil, err
	}
	return crds, rbac, nil
}

// installManifests applies our CRDs (waiting until they are served) and the controller's RBAC.
func installManifests(ctx context.Context, cfg *rest.Config, configDir string) error {
	logger := klog.FromContext(ctx)
	start := time.Now()
	var crds, rbac []string
	if configDir == "" {
		logger.Info("No config folder found: no CRDs and no controller RBAC installed")
	} else {
		var err error
		if crds, rbac, err = ConfigManifests(configDir); err != nil {
			return fmt.Errorf("install manifests: %w", err)
		}
		if len(crds) == 0 {
			logger.Info("No CRDs found", "dir", filepath.Join(configDir, "crd", "bases"))
		}
		if len(rbac) == 0 {
			logger.Info("No controller RBAC found, the controller will lack permissions until it is generated", "dir", filepath.Join(configDir, "rbac"))
		}
	}
	objs, err := ReadManifests(append(crds, rbac...)...)
	if err != nil {
		return fmt.Errorf("install manifests: %w", err)
	}
	bindings, err := DecodeManifests([]byte(controllerBindings))
	if err != nil {
		return fmt.Errorf("install manifests: %w", err)
	}
	if err := ApplyObjects(ctx, cfg, ApplyOptions{}, append(objs, bindings...)...); err != nil {
		return fmt.Errorf("install manifests: %w", err)
	}
	logger.Info("Installed manifests", "crds", len(crds), "rbacFiles", len(rbac), "duration", time.Since(start).Round(time.Millisecond))
	return nil
}
