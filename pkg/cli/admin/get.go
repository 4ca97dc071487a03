package admin

import (
	"context"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/token"
	"jumpstarter.dev/service/pkg/credentials"
	"jumpstarter.dev/service/pkg/virtualnode"
)

// none is what a table shows for an empty value, as kubectl does.
const none = "<none>"

// Get returns the named Client or Exporter, or all of the namespace when name is empty, as a
// ClientList or ExporterList.
func (a *Admin) Get(ctx context.Context, kind token.Kind, namespace, name string) (runtime.Object, error) {
	var list client.ObjectList
	switch kind {
	case token.KindClient:
		list = &jumpstarterv1alpha1.ClientList{}
	case token.KindExporter:
		list = &jumpstarterv1alpha1.ExporterList{}
	default:
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	if name == "" {
		if err := a.Client.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return nil, fmt.Errorf("list %ss in %s: %w", kind, namespace, err)
		}
		return list, nil
	}
	obj, err := newObject(kind, namespace, name)
	if err != nil {
		return nil, err
	}
	if err := a.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("get %s: not found", describe(kind, namespace, name))
		}
		return nil, fmt.Errorf("get %s: %w", describe(kind, namespace, name), err)
	}
	return obj, nil
}

// Table is the kubectl-style table of what Get returned: name, endpoint, token expiry and
// labels, and for exporters whether they are online. An exporter's token expiry comes from its
// credential Secret (clients have it in their status); without access to Secrets it shows as
// unknown.
func (a *Admin) Table(ctx context.Context, obj runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{}
	switch o := obj.(type) {
	case *jumpstarterv1alpha1.Client:
		return a.Table(ctx, &jumpstarterv1alpha1.ClientList{Items: []jumpstarterv1alpha1.Client{*o}})
	case *jumpstarterv1alpha1.Exporter:
		return a.Table(ctx, &jumpstarterv1alpha1.ExporterList{Items: []jumpstarterv1alpha1.Exporter{*o}})
	case *jumpstarterv1alpha1.ClientList:
		table.ColumnDefinitions = columns("Name", "Endpoint", "Token-Expires", "Username", "Labels")
		for i := range o.Items {
			c := &o.Items[i]
			expires := none
			if c.Status.TokenExpiresAt != nil {
				expires = c.Status.TokenExpiresAt.UTC().Format(time.RFC3339)
			}
			username := none
			if c.Spec.Username != nil {
				username = *c.Spec.Username
			}
			table.Rows = append(table.Rows, row(c, c.Name, orNone(c.Status.Endpoint), expires, username, labelString(c.Labels)))
		}
	case *jumpstarterv1alpha1.ExporterList:
		table.ColumnDefinitions = columns("Name", "Endpoint", "Online", "Token-Expires", "Labels")
		var expiries map[string]string
		if len(o.Items) > 0 {
			expiries = a.exporterTokenExpiries(ctx, o.Items[0].Namespace)
		}
		now := a.now()
		for i := range o.Items {
			e := &o.Items[i]
			expires, ok := expiries[credentials.SecretName(token.KindExporter, e.Name)]
			if !ok {
				expires = none
				if expiries == nil {
					expires = "<unknown>"
				}
			}
			online := fmt.Sprint(virtualnode.IsOnline(e, now))
			table.Rows = append(table.Rows, row(e, e.Name, orNone(e.Status.Endpoint), online, expires, labelString(e.Labels)))
		}
	default:
		return nil, fmt.Errorf("no table for %T", obj)
	}
	return table, nil
}

// exporterTokenExpiries reads the exp claim of every exporter credential in the namespace, by
// Secret name; nil when the Secrets cannot be read.
func (a *Admin) exporterTokenExpiries(ctx context.Context, namespace string) map[string]string {
	secrets := &corev1.SecretList{}
	if err := a.Client.List(ctx, secrets, client.InNamespace(namespace), client.MatchingLabels{
		jumpstarterv1alpha1.LabelCredential:     "true",
		jumpstarterv1alpha1.LabelCredentialKind: string(token.KindExporter),
	}); err != nil {
		return nil
	}
	out := make(map[string]string, len(secrets.Items))
	for _, s := range secrets.Items {
		if exp, err := unverifiedExpiry(string(s.Data[credentials.KeyToken])); err == nil {
			out[s.Name] = exp.UTC().Format(time.RFC3339)
		}
	}
	return out
}

// unverifiedExpiry reads the exp claim of a token without checking its signature: the token
// comes from the Secret the controller wrote, and only its expiry is shown.
func unverifiedExpiry(raw string) (time.Time, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{token.Algorithm})
	if err != nil {
		return time.Time{}, err
	}
	var claims jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&claims); err != nil {
		return time.Time{}, err
	}
	if claims.Expiry == nil {
		return time.Time{}, fmt.Errorf("no exp claim")
	}
	return claims.Expiry.Time(), nil
}

func columns(names ...string) []metav1.TableColumnDefinition {
	defs := make([]metav1.TableColumnDefinition, 0, len(names))
	for _, n := range names {
		defs = append(defs, metav1.TableColumnDefinition{Name: n, Type: "string"})
	}
	return defs
}

func row(obj runtime.Object, cells ...any) metav1.TableRow {
	return metav1.TableRow{Cells: cells, Object: runtime.RawExtension{Object: obj}}
}

func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

func labelString(l map[string]string) string {
	if len(l) == 0 {
		return none
	}
	return labels.Set(l).String()
}
