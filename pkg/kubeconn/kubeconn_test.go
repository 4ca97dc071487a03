package kubeconn

import (
	"testing"

	"k8s.io/client-go/rest"
)

func TestOwnConfigsGetTransportsOfTheirOwn(t *testing.T) {
	base := &rest.Config{Host: "https://127.0.0.1:6443"}
	transportOf := func(c *rest.Config) any {
		t.Helper()
		rt, err := rest.TransportFor(c)
		if err != nil {
			t.Fatal(err)
		}
		return rt
	}
	if transportOf(base) != transportOf(rest.CopyConfig(base)) {
		t.Fatal("client-go no longer shares the transport of equal configs; Own may be unneeded")
	}
	own := Own(base)
	if transportOf(own) == transportOf(base) {
		t.Error("Own shares the transport of the config it copied")
	}
	if transportOf(Own(base)) == transportOf(own) {
		t.Error("two Own copies share a transport")
	}
	if base.Dial != nil {
		t.Error("Own changed the config it copied")
	}
}
