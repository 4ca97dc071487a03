package lab

import (
	"os"
	"strings"
	"testing"
)

func TestEnsureTokensKeepsThemAcrossStarts(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(dir+"/pki", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := ensureTokens(dir); err != nil {
		t.Fatal(err)
	}
	first, err := readTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, identity := range []string{"admin", "kube-controller-manager", "scheduler", "controller"} {
		if len(first[identity]) != 64 {
			t.Errorf("token of %s = %q, want 64 hex digits", identity, first[identity])
		}
	}
	if len(first) != 4 {
		t.Errorf("tokens for %d identities, want 4 (no server certificate gets one)", len(first))
	}
	data, err := os.ReadFile(tokensPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `,admin,admin,system:masters`) || !strings.Contains(string(data), ","+ControllerUser+",controller,") {
		t.Errorf("token file lacks the identities' users and groups:\n%s", data)
	}
	if st, err := os.Stat(tokensPath(dir)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, %v; want 0600", st.Mode().Perm(), err)
	}

	if err := ensureTokens(dir); err != nil {
		t.Fatal(err)
	}
	again, err := readTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	for identity, token := range first {
		if again[identity] != token {
			t.Errorf("token of %s changed on the second start", identity)
		}
	}
	if token, err := tokenOf(dir, "scheduler"); err != nil || token != first["scheduler"] {
		t.Errorf("tokenOf(scheduler) = %q, %v", token, err)
	}
	if _, err := tokenOf(dir, "apiserver"); err == nil {
		t.Error("tokenOf(apiserver): no error for an identity without a token")
	}
}
