package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/e2e/support"
	"jumpstarter.dev/service/pkg/leaseapi"
	"jumpstarter.dev/service/pkg/leasepod"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
)

// ciStep is a pod that asks for a lease, as a Tekton TaskRun's pod would: annotations only.
// The lab's MutatingAdmissionPolicy (config/admission) adds the gate and the label.
func ciStep(ns, name, serviceAccount string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: map[string]string{
			jumpstarterv1alpha1.AnnotationLeaseSelector: "board=rpi4",
			jumpstarterv1alpha1.AnnotationLeaseDuration: "5m",
		}},
		Spec: corev1.PodSpec{
			ServiceAccountName: serviceAccount,
			RestartPolicy:      corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "step", Image: "registry.k8s.io/pause:3.10",
				Env: []corev1.EnvVar{{Name: "JMP_LEASE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
					FieldPath: "metadata.annotations['" + jumpstarterv1alpha1.AnnotationLeaseName + "']",
				}}}},
			}},
		},
	}
}

func podLeaseCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == jumpstarterv1alpha1.PodConditionLease {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func waitPod(ctx context.Context, t *testing.T, ns, name, what string, pred func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{}
	eventually(t, what, waitTimeout, func() error {
		if err := shared.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, pod); err != nil {
			return err
		}
		if !pred(pod) {
			return fmt.Errorf("pod %s: gates %v, annotations %v, conditions %+v", name, pod.Spec.SchedulingGates, pod.Annotations, pod.Status.Conditions)
		}
		return nil
	})
	return pod
}

func TestCIPodsWaitForTheirLease(t *testing.T) {
	var ns string
	gated := func(p *corev1.Pod) bool {
		return slices.ContainsFunc(p.Spec.SchedulingGates, func(g corev1.PodSchedulingGate) bool { return g.Name == jumpstarterv1alpha1.GateLease })
	}
	f := features.New("CI pods").
		Setup(func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns = newNamespace(ctx, t, "cipod")
			for _, obj := range []client.Object{
				&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "builder"}},
				&jumpstarterv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bot"},
					Spec: jumpstarterv1alpha1.ClientSpec{Username: ptr.To("system:serviceaccount:" + ns + ":builder")}},
			} {
				if err := shared.client.Create(ctx, obj); err != nil {
					t.Fatal(err)
				}
			}
			createExporter(ctx, t, ns, "e1", rpi4, true, true)
			return ctx
		}).
		Assess("held back until its lease is granted, then let go with it; released when done", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			createLease(ctx, t, support.NewLease(ns, "holder", map[string]string{"board": "rpi4"}, time.Hour))
			waitLease(ctx, t, ns, "holder", support.IsReady)
			if err := shared.client.Create(ctx, ciStep(ns, "step", "builder")); err != nil {
				t.Fatal(err)
			}
			pod := waitPod(ctx, t, ns, "step", "held back, waiting for its lease", func(p *corev1.Pod) bool {
				c := podLeaseCondition(p)
				return gated(p) && p.Labels[jumpstarterv1alpha1.LabelLeaseRequest] == "true" && c != nil && c.Status == corev1.ConditionFalse &&
					c.Reason == jumpstarterv1alpha1.LeaseReasonNotAvailable
			})
			l := waitLease(ctx, t, ns, "step", func(*jumpstarterv1alpha1.Lease) bool { return true })
			if l.Spec.ClientRef.Name != "bot" || !metav1.IsControlledBy(l, pod) || l.Spec.Duration.Duration != 5*time.Minute {
				t.Errorf("the pod's lease: %+v", l.Spec)
			}

			release(ctx, t, ns, "holder")
			waitLease(ctx, t, ns, "step", support.IsReady)
			pod = waitPod(ctx, t, ns, "step", "let go with its lease", func(p *corev1.Pod) bool {
				c := podLeaseCondition(p)
				return !gated(p) && p.Annotations[jumpstarterv1alpha1.AnnotationLeaseName] == "step" &&
					c != nil && c.Status == corev1.ConditionTrue && c.Reason == leasepod.ReasonGranted
			})

			// The step uses the lease it was handed as its service account, the way jmp in the pod
			// would with JMP_LEASE and its projected token: the lease is its client's.
			kube, err := kubernetes.NewForConfig(shared.lab.RESTConfig())
			if err != nil {
				t.Fatal(err)
			}
			tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "builder", &authenticationv1.TokenRequest{
				Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("token request: %v", err)
			}
			step := support.Caller{Token: tr.Status.Token, Kind: support.KindClient, Namespace: ns, Name: "bot"}
			got, err := labConn(t).Client.GetLease(ctx, &clientv1.GetLeaseRequest{
				Name: leaseapi.FormatLeaseName(ns, pod.Annotations[jumpstarterv1alpha1.AnnotationLeaseName]),
			}, step.Call())
			if err != nil || got.GetClient() != leaseapi.FormatClientName(ns, "bot") || got.GetExporter() != leaseapi.FormatExporterName(ns, "e1") {
				t.Errorf("the step's GetLease of its lease: %v, %v", got, err)
			}

			// The lab has no kubelet for ordinary pods; finish it as one would.
			base := pod.DeepCopy()
			pod.Status.Phase = corev1.PodSucceeded
			if err := shared.client.Status().Patch(ctx, pod, client.MergeFrom(base)); err != nil {
				t.Fatal(err)
			}
			l = waitLease(ctx, t, ns, "step", support.IsEnded)
			if !support.HasCondition(jumpstarterv1alpha1.LeaseConditionReady, metav1.ConditionFalse, jumpstarterv1alpha1.LeaseReasonReleased)(l) {
				t.Errorf("the finished pod's lease: %+v", l.Status.Conditions)
			}
			return ctx
		}).
		Assess("a pod whose service account is no client's fails, saying so", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if err := shared.client.Create(ctx, ciStep(ns, "stranger", "default")); err != nil {
				t.Fatal(err)
			}
			waitPod(ctx, t, ns, "stranger", "failed for want of a client", func(p *corev1.Pod) bool {
				c := podLeaseCondition(p)
				return gated(p) && c != nil && c.Reason == leasepod.ReasonNoClient &&
					p.Status.Phase == corev1.PodFailed && p.Status.Reason == leasepod.ReasonNoClient
			})
			if err := shared.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "stranger"}, &jumpstarterv1alpha1.Lease{}); err == nil {
				t.Error("a lease was created for a pod without a client")
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
