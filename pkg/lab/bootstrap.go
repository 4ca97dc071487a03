package lab

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

// ControllerClusterRole is the generated ClusterRole of our controller (config/rbac).
const ControllerClusterRole = "jumpstarter-controller"

// labBindings are the lab's own RBAC:
//   - kube-controller-manager runs every controller with its own credentials
//     (--use-service-account-credentials=false), which starts it in 0.1 s instead of 5 s (one
//     token request per controller), but the system:kube-controller-manager role alone cannot
//     collect garbage or empty namespaces, so the lab makes it cluster-admin;
//   - our controller gets its generated ClusterRole, and in kube-system what leader election
//     needs (the lab runs it with --leader-election-namespace=kube-system).
const labBindings = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: jumpstarter-lab-kube-controller-manager
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: cluster-admin
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: ` + KubeControllerManagerUser + `
---
apiVersion: rbac.authorization.k8s.io/v1
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
// crd/bases, and then the controller's generated ClusterRole in rbac/role.yaml and the
// admission policies in admission/. Missing folders give no files.
func ConfigManifests(configDir string) (crds, rest []string, err error) {
	crds, err = filepath.Glob(filepath.Join(configDir, "crd", "bases", "*.yaml"))
	if err != nil {
		return nil, nil, err
	}
	// Only the generated ClusterRole: the rest of config/rbac binds it to in-cluster
	// ServiceAccounts, while the lab's controller runs as a certificate user bound above.
	rest, err = filepath.Glob(filepath.Join(configDir, "rbac", "role.yaml"))
	if err != nil {
		return nil, nil, err
	}
	// The pods that ask for a lease are held back by the same policy as on a cluster.
	admission, err := filepath.Glob(filepath.Join(configDir, "admission", "*.yaml"))
	if err != nil {
		return nil, nil, err
	}
	admission = slices.DeleteFunc(admission, func(f string) bool { return filepath.Base(f) == "kustomization.yaml" })
	return crds, append(rest, admission...), nil
}

// installManifests applies our CRDs (waiting until they are served), the controller's RBAC and
// the lab's bindings.
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
			logger.Info("No controller RBAC or admission policies found, the controller will lack permissions until they are generated", "dir", configDir)
		}
	}
	objs, err := ReadManifests(append(crds, rbac...)...)
	if err != nil {
		return fmt.Errorf("install manifests: %w", err)
	}
	bindings, err := DecodeManifests([]byte(labBindings))
	if err != nil {
		return fmt.Errorf("install manifests: %w", err)
	}
	if err := ApplyObjects(ctx, cfg, ApplyOptions{}, append(objs, bindings...)...); err != nil {
		return fmt.Errorf("install manifests: %w", err)
	}
	logger.Info("Installed manifests", "crds", len(crds), "rbacAndAdmissionFiles", len(rbac), "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// waitControllerManagerWorking waits until kube-controller-manager has run its service-account
// controller once (the default ServiceAccount of the default namespace exists). Its /healthz
// answers before its controllers start; pods in a new namespace need that ServiceAccount.
func waitControllerManagerWorking(ctx context.Context, cfg *rest.Config, c *ComponentState) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("start %s: %w", c.Name, err)
	}
	begin := time.Now()
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	err = wait.PollUntilContextTimeout(ctx, pollInterval, c.ReadyTimeout, true, func(ctx context.Context) (bool, error) {
		if !alive(c) {
			return false, errors.New("exited")
		}
		_, err := dyn.Resource(gvr).Namespace(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("start %s: no default ServiceAccount after %s: %w\n%s", c.Name, time.Since(begin).Round(time.Millisecond), err, logTail(c.Log))
	}
	klog.FromContext(ctx).V(1).Info("kube-controller-manager is working", "duration", time.Since(begin).Round(time.Millisecond))
	return nil
}
