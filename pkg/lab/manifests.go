package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/klog/v2"
)

const (
	// FieldManager is the server-side apply field manager of everything the lab applies.
	FieldManager = "jumpstarter-lab"
	// crdEstablishedTimeout bounds the wait for applied CRDs to be served.
	crdEstablishedTimeout = 30 * time.Second
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// ApplyOptions tune ApplyManifestsWithOptions.
type ApplyOptions struct {
	// FieldManager defaults to FieldManager.
	FieldManager string
	// DryRun asks the apiserver to validate (dryRun=All) without persisting anything. Objects
	// of kinds that a CRD in the same batch defines cannot be validated this way; they fail with
	// a no-match error unless the CRD is already installed.
	DryRun bool
}

// ApplyManifests server-side applies every object in the given multi-document YAML (or JSON)
// files with the field manager "jumpstarter-lab", forcing conflicts. CustomResourceDefinitions
// go first and are waited for until Established, then Namespaces, then the rest in file order.
func ApplyManifests(ctx context.Context, cfg *rest.Config, files ...string) error {
	return ApplyManifestsWithOptions(ctx, cfg, ApplyOptions{}, files...)
}

// ApplyManifestsWithOptions is ApplyManifests with options, e.g. a dry run.
func ApplyManifestsWithOptions(ctx context.Context, cfg *rest.Config, opts ApplyOptions, files ...string) error {
	objs, err := ReadManifests(files...)
	if err != nil {
		return err
	}
	return ApplyObjects(ctx, cfg, opts, objs...)
}

// ReadManifests decodes the given files with DecodeManifests.
func ReadManifests(files ...string) ([]*unstructured.Unstructured, error) {
	var all []*unstructured.Unstructured
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read manifests: %w", err)
		}
		objs, err := DecodeManifests(data)
		if err != nil {
			return nil, fmt.Errorf("read manifests %s: %w", f, err)
		}
		all = append(all, objs...)
	}
	return all, nil
}

// DecodeManifests decodes a multi-document YAML or JSON stream into objects. Empty documents
// are skipped, List kinds are flattened into their items, and kustomize files (which are not
// API objects) are dropped.
func DecodeManifests(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for i := 0; ; i++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetAPIVersion() == "" || u.GetKind() == "" {
			return nil, fmt.Errorf("document %d: apiVersion and kind are required", i)
		}
		if u.GroupVersionKind().Group == "kustomize.config.k8s.io" {
			continue
		}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				return nil, fmt.Errorf("document %d: %w", i, err)
			}
			for j := range list.Items {
				objs = append(objs, &list.Items[j])
			}
			continue
		}
		if u.GetName() == "" {
			return nil, fmt.Errorf("document %d (%s): metadata.name is required", i, u.GetKind())
		}
		objs = append(objs, u)
	}
}

// applyRank orders objects for applying: CRDs, then Namespaces, then the rest.
func applyRank(u *unstructured.Unstructured) int {
	switch u.GroupVersionKind().GroupKind() {
	case schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:
		return 0
	case schema.GroupKind{Kind: "Namespace"}:
		return 1
	default:
		return 2
	}
}

// sortForApply orders objects stably by applyRank.
func sortForApply(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	sorted := slices.Clone(objs)
	slices.SortStableFunc(sorted, func(a, b *unstructured.Unstructured) int { return applyRank(a) - applyRank(b) })
	return sorted
}

// ApplyObjects server-side applies objects in the order ApplyManifests documents.
func ApplyObjects(ctx context.Context, cfg *rest.Config, opts ApplyOptions, objs ...*unstructured.Unstructured) error {
	logger := klog.FromContext(ctx)
	if opts.FieldManager == "" {
		opts.FieldManager = FieldManager
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("apply manifests: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("apply manifests: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	applyOpts := metav1.ApplyOptions{FieldManager: opts.FieldManager, Force: true}
	if opts.DryRun {
		applyOpts.DryRun = []string{metav1.DryRunAll}
	}

	var crds []string
	crdsWaited := false
	for _, obj := range sortForApply(objs) {
		if applyRank(obj) > 0 && len(crds) > 0 && !crdsWaited {
			crdsWaited = true
			if !opts.DryRun {
				if err := waitCRDsEstablished(ctx, dyn, crds); err != nil {
					return err
				}
			}
			mapper.Reset()
		}
		if err := applyObject(ctx, dyn, mapper, applyOpts, obj); err != nil {
			return err
		}
		logger.V(2).Info("Applied", "kind", obj.GetKind(), "object", klog.KObj(obj), "dryRun", opts.DryRun)
		if applyRank(obj) == 0 {
			crds = append(crds, obj.GetName())
		}
	}
	if len(crds) > 0 && !crdsWaited && !opts.DryRun {
		return waitCRDsEstablished(ctx, dyn, crds)
	}
	return nil
}

func applyObject(ctx context.Context, dyn dynamic.Interface, mapper meta.ResettableRESTMapper, opts metav1.ApplyOptions, obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		// The kind may have appeared since discovery was cached.
		mapper.Reset()
		mapping, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return fmt.Errorf("apply %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	var ri dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := obj.GetNamespace()
		if ns == "" {
			ns = metav1.NamespaceDefault
		}
		ri = dyn.Resource(mapping.Resource).Namespace(ns)
	}
	if _, err := ri.Apply(ctx, obj.GetName(), obj, opts); err != nil {
		return fmt.Errorf("apply %s %s: %w", gvk.Kind, klog.KObj(obj), err)
	}
	return nil
}

// waitCRDsEstablished waits until every named CRD has the condition Established=True.
func waitCRDsEstablished(ctx context.Context, dyn dynamic.Interface, names []string) error {
	logger := klog.FromContext(ctx)
	start := time.Now()
	for _, name := range names {
		err := wait.PollUntilContextTimeout(ctx, pollInterval, crdEstablishedTimeout, true, func(ctx context.Context) (bool, error) {
			crd, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil //nolint:nilerr // retried until the timeout
			}
			return crdEstablished(crd), nil
		})
		if err != nil {
			return fmt.Errorf("wait for CRD %s to be established: %w", name, err)
		}
	}
	logger.V(1).Info("CRDs established", "count", len(names), "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

func crdEstablished(crd *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}
