package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/token"
	"jumpstarter.dev/service/pkg/credentials"
)

const (
	// DefaultTimeout bounds the wait for the controller: it issues a token within a second
	// or so of a create or a rotation request.
	DefaultTimeout = 30 * time.Second
	// DefaultPollInterval is how often the wait looks.
	DefaultPollInterval = 200 * time.Millisecond
)

// Admin runs the admin commands with a client of the cluster.
type Admin struct {
	// Client reads and writes Clients, Exporters, their Secrets and the CA ConfigMap.
	Client client.Client
	// Timeout bounds every wait for the controller; zero means DefaultTimeout.
	Timeout time.Duration
	// PollInterval is how often a wait looks; zero means DefaultPollInterval.
	PollInterval time.Duration
	// Clock tells exporters' online state and stamps rotation requests; nil is the real clock.
	Clock clock.PassiveClock
}

func (a *Admin) timeout() time.Duration {
	if a.Timeout > 0 {
		return a.Timeout
	}
	return DefaultTimeout
}

func (a *Admin) pollInterval() time.Duration {
	if a.PollInterval > 0 {
		return a.PollInterval
	}
	return DefaultPollInterval
}

func (a *Admin) now() time.Time {
	if a.Clock == nil {
		return time.Now()
	}
	return a.Clock.Now()
}

// ParseKind reads the kind argument of a command: client or exporter, singular or plural.
func ParseKind(s string) (token.Kind, error) {
	switch strings.ToLower(s) {
	case "client", "clients":
		return token.KindClient, nil
	case "exporter", "exporters":
		return token.KindExporter, nil
	}
	return "", fmt.Errorf("unknown kind %q: want client or exporter", s)
}

// ParseLabels reads repeated --label k=v flags.
func ParseLabels(flags []string) (map[string]string, error) {
	labels := map[string]string{}
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("--label %q: want key=value", f)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("--label %q: key %q: %s", f, k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, fmt.Errorf("--label %q: value %q: %s", f, v, strings.Join(errs, "; "))
		}
		if old, dup := labels[k]; dup && old != v {
			return nil, fmt.Errorf("--label %q: key %q given twice", f, k)
		}
		labels[k] = v
	}
	return labels, nil
}

// describe names an object for messages: "client lab/alice".
func describe(kind token.Kind, namespace, name string) string {
	return fmt.Sprintf("%s %s/%s", kind, namespace, name)
}

// newObject is an empty Client or Exporter with its namespace and name.
func newObject(kind token.Kind, namespace, name string) (client.Object, error) {
	obj, err := credentials.NewObject(kind)
	if err != nil {
		return nil, err
	}
	obj.SetNamespace(namespace)
	obj.SetName(name)
	return obj, nil
}

// credentialStatus returns the credential Secret and endpoint in the object's status.
func credentialStatus(obj client.Object) (secret *corev1.LocalObjectReference, endpoint string) {
	switch o := obj.(type) {
	case *jumpstarterv1alpha1.Client:
		return o.Status.Credential, o.Status.Endpoint
	case *jumpstarterv1alpha1.Exporter:
		return o.Status.Credential, o.Status.Endpoint
	}
	return nil, ""
}

// CreateOptions are the arguments of Create.
type CreateOptions struct {
	Kind      token.Kind
	Namespace string
	Name      string
	// Labels of the object; an exporter needs at least one, since leases select by label.
	Labels map[string]string
	// OIDCUsername, if set, is bound as spec.username: an external identity that may act as
	// the object.
	OIDCUsername string
	Config       ConfigOptions
}

// Result is what Create and Rotate did.
type Result struct {
	// Object is the Client or Exporter, as last read.
	Object client.Object
	// Path is where the config file went; empty when it went to ConfigOptions.Stdout.
	Path string
	// SelectedAsDefault: the client became current-client in the user config.
	SelectedAsDefault bool
}

// Create creates the Client or Exporter, waits for the controller to issue its credential
// and writes its config file.
func (a *Admin) Create(ctx context.Context, opts CreateOptions) (*Result, error) {
	what := describe(opts.Kind, opts.Namespace, opts.Name)
	if opts.Name == "" {
		return nil, fmt.Errorf("create %s: a name is required", opts.Kind)
	}
	if opts.Kind == token.KindExporter && len(opts.Labels) == 0 {
		return nil, fmt.Errorf("create %s: at least one --label is required: leases select exporters by label", what)
	}
	if opts.Kind == token.KindExporter && (len(opts.Config.Allow) > 0 || opts.Config.Unsafe) {
		return nil, fmt.Errorf("create %s: --allow and --unsafe are client settings", what)
	}
	// Read the CA before creating anything: a bad --ca-file should not leave an object behind.
	ca, err := a.caBundle(ctx, opts.Namespace, opts.Config.CAFile)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", what, err)
	}
	obj, err := newObject(opts.Kind, opts.Namespace, opts.Name)
	if err != nil {
		return nil, err
	}
	if len(opts.Labels) > 0 {
		obj.SetLabels(opts.Labels)
	}
	if opts.OIDCUsername != "" {
		switch o := obj.(type) {
		case *jumpstarterv1alpha1.Client:
			o.Spec.Username = ptr.To(opts.OIDCUsername)
		case *jumpstarterv1alpha1.Exporter:
			o.Spec.Username = ptr.To(opts.OIDCUsername)
		}
	}
	if err := a.Client.Create(ctx, obj); err != nil {
		if apierrors.IsAlreadyExists(err) {
			// Wrapped, so that callers (the lab's demo) can still tell and rotate instead.
			return nil, fmt.Errorf("create %s: it already exists (admin rotate %s %s writes a new config for it): %w", what, opts.Kind, opts.Name, err)
		}
		return nil, fmt.Errorf("create %s: %w", what, err)
	}
	obj, tok, err := a.waitCredential(ctx, opts.Kind, opts.Namespace, opts.Name, func(*corev1.Secret) bool { return true })
	if err != nil {
		return nil, fmt.Errorf("create %s: the object was created, but %w", what, err)
	}
	res, err := a.writeConfig(opts.Kind, obj, tok, ca, opts.Config, false)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", what, err)
	}
	return res, nil
}

// Rotate asks the controller for a new token of the Client or Exporter (which revokes the
// current one), waits for it and writes the config file. An existing config file at the
// target path keeps its settings and gets the new token and endpoint.
func (a *Admin) Rotate(ctx context.Context, kind token.Kind, namespace, name string, cfg ConfigOptions) (*Result, error) {
	what := describe(kind, namespace, name)
	obj, err := newObject(kind, namespace, name)
	if err != nil {
		return nil, err
	}
	if err := a.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("rotate %s: not found", what)
		}
		return nil, fmt.Errorf("rotate %s: %w", what, err)
	}
	var ca []byte
	if cfg.CAFile != "" {
		if ca, err = a.caBundle(ctx, namespace, cfg.CAFile); err != nil {
			return nil, fmt.Errorf("rotate %s: %w", what, err)
		}
	}
	// Every distinct value rotates once; a timestamp is distinct from the previous request.
	request := a.now().UTC().Format(time.RFC3339Nano)
	base := obj.DeepCopyObject().(client.Object)
	annotations := obj.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[jumpstarterv1alpha1.AnnotationRotateToken] = request
	obj.SetAnnotations(annotations)
	if err := a.Client.Patch(ctx, obj, client.MergeFrom(base)); err != nil {
		return nil, fmt.Errorf("rotate %s: request a new token: %w", what, err)
	}
	rotated := func(secret *corev1.Secret) bool {
		return secret.Annotations[credentials.AnnotationRotatedToken] == request
	}
	obj, tok, err := a.waitCredential(ctx, kind, namespace, name, rotated)
	if err != nil {
		return nil, fmt.Errorf("rotate %s: %w", what, err)
	}
	if ca == nil {
		if ca, err = a.caBundle(ctx, namespace, ""); err != nil {
			return nil, fmt.Errorf("rotate %s: %w", what, err)
		}
	}
	res, err := a.writeConfig(kind, obj, tok, ca, cfg, true)
	if err != nil {
		return nil, fmt.Errorf("rotate %s: the token was rotated (the old one no longer works), but %w", what, err)
	}
	return res, nil
}

// Delete deletes the Client or Exporter; its credential Secret goes with it.
func (a *Admin) Delete(ctx context.Context, kind token.Kind, namespace, name string) error {
	what := describe(kind, namespace, name)
	obj, err := newObject(kind, namespace, name)
	if err != nil {
		return err
	}
	if err := a.Client.Delete(ctx, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s: not found", what)
		}
		return fmt.Errorf("delete %s: %w", what, err)
	}
	return nil
}

// waitCredential waits until the object's status names its credential Secret and endpoint
// and the Secret holds a token that accept takes. It returns the object and the token.
func (a *Admin) waitCredential(ctx context.Context, kind token.Kind, namespace, name string, accept func(*corev1.Secret) bool) (client.Object, string, error) {
	obj, err := newObject(kind, namespace, name)
	if err != nil {
		return nil, "", err
	}
	key := types.NamespacedName{Namespace: namespace, Name: name}
	var tok string
	missing := "no status yet"
	err = wait.PollUntilContextTimeout(ctx, a.pollInterval(), a.timeout(), true, func(ctx context.Context) (bool, error) {
		if err := a.Client.Get(ctx, key, obj); err != nil {
			if apierrors.IsNotFound(err) {
				return false, errors.New("it was deleted while waiting for its credential")
			}
			return false, err
		}
		ref, endpoint := credentialStatus(obj)
		if ref == nil || ref.Name == "" {
			missing = "status.credential is not set (is the controller running?)"
			return false, nil
		}
		secret := &corev1.Secret{}
		if err := a.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: ref.Name}, secret); err != nil {
			if apierrors.IsNotFound(err) {
				missing = fmt.Sprintf("Secret %s does not exist", ref.Name)
				return false, nil
			}
			return false, fmt.Errorf("read Secret %s: %w", ref.Name, err)
		}
		tok = string(secret.Data[credentials.KeyToken])
		switch {
		case tok == "":
			missing = fmt.Sprintf("Secret %s has no %q key", ref.Name, credentials.KeyToken)
		case !accept(secret):
			missing = fmt.Sprintf("Secret %s still holds the old token", ref.Name)
		case endpoint == "":
			missing = "status.endpoint is not set (is the controller running with --grpc-endpoint?)"
		default:
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		if wait.Interrupted(err) && ctx.Err() == nil {
			return nil, "", fmt.Errorf("the controller did not issue its credential within %s: %s", a.timeout(), missing)
		}
		return nil, "", err
	}
	return obj, tok, nil
}
