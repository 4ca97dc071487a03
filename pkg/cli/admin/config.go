package admin

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"jumpstarter.dev/service/pkg/auth/token"
	"jumpstarter.dev/service/pkg/clientconfig"
)

// Stdout as ConfigOptions.Out writes the config to ConfigOptions.Stdout instead of a file.
const Stdout = "-"

// ConfigOptions say what goes into the config file and where it goes.
type ConfigOptions struct {
	// Out is the file; empty means the default path of the object's name (wire contract
	// §4.1), Stdout means the Stdout writer.
	Out    string
	Stdout io.Writer
	// CAFile is a PEM bundle for tls.ca; empty means the namespace's CA ConfigMap, or no CA
	// (the system roots) without one.
	CAFile string
	// InsecureTLS is tls.insecure.
	InsecureTLS bool
	// Allow and Unsafe are a client's drivers.allow and drivers.unsafe.
	Allow  []string
	Unsafe bool
}

// caBundle reads the CA bundle from file, or else from the namespace's CA ConfigMap; nil
// when neither has one.
func (a *Admin) caBundle(ctx context.Context, namespace, file string) ([]byte, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		if err := checkPEMCertificates(data); err != nil {
			return nil, fmt.Errorf("--ca-file %s: %w", file, err)
		}
		return data, nil
	}
	cm := &corev1.ConfigMap{}
	key := types.NamespacedName{Namespace: namespace, Name: clientconfig.CAConfigMapName}
	if err := a.Client.Get(ctx, key, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read the CA from ConfigMap %s (or pass --ca-file): %w", key, err)
	}
	data := []byte(cm.Data[clientconfig.CAConfigMapKey])
	if len(data) == 0 {
		return nil, nil
	}
	if err := checkPEMCertificates(data); err != nil {
		return nil, fmt.Errorf("ConfigMap %s key %s: %w", key, clientconfig.CAConfigMapKey, err)
	}
	return data, nil
}

// checkPEMCertificates checks that data is a PEM bundle of certificates only.
func checkPEMCertificates(data []byte) error {
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("PEM block %q is not a certificate", block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("certificate %d: %w", n+1, err)
		}
		n++
	}
	if n == 0 {
		return errors.New("no PEM certificate found")
	}
	return nil
}

// writeConfig writes the config file of obj with tok. With reuse, an existing file at the
// target keeps everything but the token, the endpoint and (given a new one) the CA.
func (a *Admin) writeConfig(kind token.Kind, obj client.Object, tok string, ca []byte, opts ConfigOptions, reuse bool) (*Result, error) {
	_, endpoint := credentialStatus(obj)
	namespace, name := obj.GetNamespace(), obj.GetName()
	path := opts.Out
	if path == "" {
		var err error
		if kind == token.KindClient {
			path, err = clientconfig.ClientConfigPath(name)
		} else {
			path, err = clientconfig.ExporterConfigPath(name)
		}
		if err != nil {
			return nil, err
		}
	}
	tls := clientconfig.TLS{CA: clientconfig.EncodeCA(ca), Insecure: opts.InsecureTLS}

	var data []byte
	var err error
	switch kind {
	case token.KindClient:
		c := clientconfig.NewClientConfig(namespace, name)
		if reuse && path != Stdout && fileExists(path) {
			if c, err = clientconfig.LoadClientConfig(path); err != nil {
				return nil, fmt.Errorf("%w (use --out for another file)", err)
			}
			if err := sameObject(path, c.Metadata, namespace, name); err != nil {
				return nil, err
			}
			if ca != nil {
				c.TLS.CA = tls.CA
			}
		} else {
			c.TLS = tls
			c.Drivers = clientconfig.Drivers{Allow: append([]string{}, opts.Allow...), Unsafe: opts.Unsafe}
		}
		c.Endpoint, c.Token = endpoint, tok
		data, err = c.Marshal()
	case token.KindExporter:
		c := clientconfig.NewExporterConfig(namespace, name)
		if reuse && path != Stdout && fileExists(path) {
			if c, err = clientconfig.LoadExporterConfig(path); err != nil {
				return nil, fmt.Errorf("%w (use --out for another file)", err)
			}
			if err := sameObject(path, c.Metadata, namespace, name); err != nil {
				return nil, err
			}
			if ca != nil {
				c.TLS.CA = tls.CA
			}
		} else {
			c.TLS = tls
		}
		c.Endpoint, c.Token = endpoint, tok
		data, err = c.Marshal()
	default:
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	if err != nil {
		return nil, err
	}

	res := &Result{Object: obj}
	if path == Stdout {
		if opts.Stdout == nil {
			return nil, errors.New("no writer for the config on standard output")
		}
		if _, err := opts.Stdout.Write(data); err != nil {
			return nil, fmt.Errorf("write the config: %w", err)
		}
		return res, nil
	}
	if err := clientconfig.WriteFile(path, data); err != nil {
		return nil, err
	}
	res.Path = path
	if kind == token.KindClient && opts.Out == "" {
		if res.SelectedAsDefault, err = clientconfig.SelectFirstClient(name); err != nil {
			return nil, fmt.Errorf("config written to %s, but the user config: %w", path, err)
		}
	}
	return res, nil
}

// sameObject refuses to put one object's token into another object's config file.
func sameObject(path string, meta clientconfig.ObjectMeta, namespace, name string) error {
	if meta.Namespace != namespace || meta.Name != name {
		return fmt.Errorf("%s is the config of %s/%s, not of %s/%s (use --out for another file)", path, meta.Namespace, meta.Name, namespace, name)
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
