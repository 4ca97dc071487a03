package lab

import (
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The lab's clients (its admin, kube-controller-manager, our scheduler and controller)
// authenticate with bearer tokens from a static token file, not with their client
// certificates. kube-apiserver checks a client certificate's chain on every request, an ECDSA
// verification that was 4% of its CPU under the load benchmark; on a cluster, in-cluster
// components present ServiceAccount tokens, whose checks the API server caches, so a token
// lookup is the closer model of what a lease costs there. The tokens carry the same user
// names and groups as the certificates, so RBAC does not change.

// tokensPath is the static token file of a lab directory (kube-apiserver --token-auth-file).
func tokensPath(dir string) string { return filepath.Join(dir, "pki", "tokens.csv") }

// clientIdentities are the certificates of labCerts that are clients: one token each.
func clientIdentities() []certPair {
	var out []certPair
	for _, c := range labCerts {
		if c.serverSANs == nil {
			out = append(out, c)
		}
	}
	return out
}

// ensureTokens writes the token file with a fresh random token for every client identity,
// keeping the tokens of a file written before.
func ensureTokens(dir string) error {
	existing, err := readTokens(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var out strings.Builder
	w := csv.NewWriter(&out)
	changed := false
	for _, c := range clientIdentities() {
		token, ok := existing[c.name]
		if !ok {
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return fmt.Errorf("generate token for %s: %w", c.cn, err)
			}
			token, changed = hex.EncodeToString(b), true
		}
		// token,user,uid,"group1,group2": the uid column is the identity's file stem.
		if err := w.Write([]string{token, c.cn, c.name, strings.Join(c.orgs, ",")}); err != nil {
			return fmt.Errorf("write tokens: %w", err)
		}
	}
	w.Flush()
	if !changed && len(existing) == len(clientIdentities()) {
		return nil
	}
	return writeFile(tokensPath(dir), []byte(out.String()), 0o600)
}

// readTokens returns the tokens of the token file by identity (the uid column).
func readTokens(dir string) (map[string]string, error) {
	data, err := os.ReadFile(tokensPath(dir))
	if err != nil {
		return nil, err
	}
	records, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", tokensPath(dir), err)
	}
	tokens := map[string]string{}
	for _, r := range records {
		if len(r) < 3 {
			return nil, fmt.Errorf("read %s: a line has %d fields, want token,user,uid[,groups]", tokensPath(dir), len(r))
		}
		tokens[r[2]] = r[0]
	}
	return tokens, nil
}

// tokenOf is the bearer token of a client identity.
func tokenOf(dir, identity string) (string, error) {
	tokens, err := readTokens(dir)
	if err != nil {
		return "", err
	}
	token, ok := tokens[identity]
	if !ok {
		return "", fmt.Errorf("no token for %s in %s", identity, tokensPath(dir))
	}
	return token, nil
}
