package oidc

import (
	"context"
	"errors"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/apis/apiserver/install"
	apiservervalidation "k8s.io/apiserver/pkg/apis/apiserver/validation"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	authenticationcel "k8s.io/apiserver/pkg/authentication/cel"
	"k8s.io/apiserver/pkg/authentication/token/union"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	apiserveroidc "k8s.io/apiserver/plugin/pkg/authenticator/token/oidc"
)

// Config is the decoded authentication configuration; only its jwt list is used.
type Config = apiserver.AuthenticationConfiguration

// LoadFile reads and decodes the AuthenticationConfiguration in path. It does not validate;
// New does.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read authentication configuration: %w", err)
	}
	cfg, err := Load(data)
	if err != nil {
		return nil, fmt.Errorf("authentication configuration %s: %w", path, err)
	}
	return cfg, nil
}

// Load decodes an AuthenticationConfiguration (YAML or JSON, any version the apiserver
// knows). Decoding is strict: unknown or duplicate fields are errors, so a misspelt key does
// not silently disable a rule.
func Load(data []byte) (*Config, error) {
	if len(data) == 0 {
		return nil, errors.New("empty authentication configuration")
	}
	// A scheme per call: the apiserver keeps its own unexported; this is cheap and runs once
	// at start-up.
	scheme := runtime.NewScheme()
	install.Install(scheme)
	codecs := serializer.NewCodecFactory(scheme, serializer.EnableStrict)
	obj, err := runtime.Decode(codecs.UniversalDecoder(), data)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	cfg, ok := obj.(*Config)
	if !ok || cfg == nil {
		return nil, fmt.Errorf("decode: want kind AuthenticationConfiguration of apiserver.config.k8s.io, got %T", obj)
	}
	return cfg, nil
}

// Options tune how the authenticators are built.
type Options struct {
	// SigningAlgs are the JOSE algorithms accepted in tokens. Empty: every asymmetric
	// algorithm the apiserver allows (RS*, ES*, PS*); the key type from the issuer's JWKS
	// still has to match. (The kube-apiserver defaults to RS256 only, through a flag that
	// the structured configuration does not have.)
	SigningAlgs []string
	// DisallowedIssuers may not be configured as OIDC issuers: the internal token issuer,
	// so that no external entry can claim the controller's own tokens.
	DisallowedIssuers []string
}

// Authenticator authenticates tokens of every configured issuer. A token goes to the entry
// whose issuer URL equals its (unverified) iss claim; tokens of other issuers are not
// recognised (false, nil), so it can sit in a union with other authenticators.
type Authenticator struct {
	token  authenticator.Token
	health []func() error
}

var _ authenticator.Token = (*Authenticator)(nil)

// New validates cfg and builds one apiserver JWT authenticator per jwt entry. Their
// background work (discovery, key refresh) stops when ctx is done, after which the
// Authenticator must not be used. A configuration with an empty jwt list is valid and
// recognises no token.
func New(ctx context.Context, cfg *Config, opts Options) (*Authenticator, error) {
	if cfg == nil {
		return nil, errors.New("authentication configuration is nil")
	}
	// One compiler for validation and all entries: it holds CEL environments, which are
	// expensive to build.
	compiler := authenticationcel.NewDefaultCompiler()
	errs := apiservervalidation.ValidateAuthenticationConfiguration(compiler, cfg, opts.DisallowedIssuers)
	// Anonymous access and the other sections configure the kube-apiserver's request
	// authentication; they mean nothing for bearer tokens on gRPC, so refuse rather than
	// ignore them.
	if cfg.Anonymous != nil {
		errs = append(errs, field.Forbidden(field.NewPath("anonymous"), "not supported: only jwt authenticators are used"))
	}
	if err := errs.ToAggregate(); err != nil {
		return nil, fmt.Errorf("invalid authentication configuration: %w", err)
	}
	algs := opts.SigningAlgs
	if len(algs) == 0 {
		algs = apiserveroidc.AllValidSigningAlgorithms()
	}
	a := &Authenticator{}
	tokens := make([]authenticator.Token, 0, len(cfg.JWT))
	for i, jwt := range cfg.JWT {
		var ca apiserveroidc.CAContentProvider
		if jwt.Issuer.CertificateAuthority != "" {
			content, err := dynamiccertificates.NewStaticCAContent("oidc-authenticator", []byte(jwt.Issuer.CertificateAuthority))
			if err != nil {
				return nil, fmt.Errorf("jwt[%d].issuer.certificateAuthority: %w", i, err)
			}
			ca = content
		}
		auth, err := apiserveroidc.New(ctx, apiserveroidc.Options{
			JWTAuthenticator:     jwt,
			CAContentProvider:    ca,
			Compiler:             compiler,
			SupportedSigningAlgs: algs,
			DisallowedIssuers:    opts.DisallowedIssuers,
		})
		if err != nil {
			return nil, fmt.Errorf("jwt[%d] (issuer %s): %w", i, jwt.Issuer.URL, err)
		}
		tokens = append(tokens, auth)
		a.health = append(a.health, auth.HealthCheck)
	}
	// Fail on error like the kube-apiserver: the entry whose issuer matched has the final
	// word, and its error (e.g. "token is expired") reaches the caller unchanged.
	a.token = union.NewFailOnError(tokens...)
	return a, nil
}

// AuthenticateToken implements authenticator.Token.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	return a.token.AuthenticateToken(ctx, token)
}

// HealthCheck reports the issuers whose discovery or key fetch has not succeeded yet.
func (a *Authenticator) HealthCheck() error {
	var errs []error
	for _, check := range a.health {
		if err := check(); err != nil {
			errs = append(errs, err)
		}
	}
	return utilerrors.NewAggregate(errs)
}
