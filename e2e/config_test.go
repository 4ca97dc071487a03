package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"
)

// TestConfigAppliesToARealAPIServer validates every manifest of config/ (through kustomize) with
// a server-side dry-run: schemas, CEL rules, RBAC references and kustomize wiring are all
// checked by the API server itself, so a broken manifest fails here and not on a user's cluster.
func TestConfigAppliesToARealAPIServer(t *testing.T) {
	f := features.New("config/").
		Assess("kubectl apply --server-side --dry-run=server -k config/default", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			// A dry-run creates nothing, so the namespace its objects live in must exist.
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "jumpstarter-system"}}
			if err := shared.client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
			out, err := shared.lab.Kubectl(ctx, "apply", "--server-side", "--dry-run=server", "--field-manager=e2e",
				"-k", filepath.Join("..", "config", "default"))
			if err != nil {
				t.Fatalf("config/default does not apply: %v\n%s", err, out)
			}
			for _, want := range []string{
				"customresourcedefinition.apiextensions.k8s.io/leases.jumpstarter.dev",
				"clusterrole.rbac.authorization.k8s.io/jumpstarter-controller",
				"deployment.apps/jumpstarter-controller",
				"deployment.apps/jumpstarter-scheduler",
				"configmap/jumpstarter-scheduler-config",
				"mutatingadmissionpolicy.admissionregistration.k8s.io/jumpstarter-lease-gate",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("dry-run output lacks %s:\n%s", want, out)
				}
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
