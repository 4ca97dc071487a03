package leaseapi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
)

func TestValidateTags(t *testing.T) {
	many := map[string]string{}
	for i := range 11 {
		many[fmt.Sprintf("t%d", i)] = "v"
	}
	ten := map[string]string{}
	for i := range 10 {
		ten[fmt.Sprintf("t%d", i)] = "v"
	}
	tests := []struct {
		name    string
		tags    map[string]string
		maxTags int
		code    codes.Code
		parts   []string
	}{
		{"none", nil, 0, codes.OK, nil},
		{"ok", map[string]string{"team": "qa", "build": "1234", "empty": ""}, 0, codes.OK, nil},
		{"ten", ten, 0, codes.OK, nil},
		{"too many", many, 0, codes.InvalidArgument, []string{"lease.tags", "must have at most 10"}},
		{"custom limit", ten, 3, codes.InvalidArgument, []string{"must have at most 3"}},
		{"slash", map[string]string{"a/b": "v"}, 0, codes.InvalidArgument, []string{"lease.tags[a/b]", "'/'"}},
		{"reserved", map[string]string{"jumpstarter.dev/x": "v"}, 0, codes.InvalidArgument, []string{"lease.tags[jumpstarter.dev/x]", "must not start with"}},
		{"reserved tag prefix", map[string]string{"metadata.jumpstarter.dev/x": "v"}, 0, codes.InvalidArgument, []string{"must not start with"}},
		{"bad key", map[string]string{"-x": "v"}, 0, codes.InvalidArgument, []string{"not a valid label key"}},
		{"long key", map[string]string{strings.Repeat("k", 100_000): "v"}, 0, codes.InvalidArgument, []string{"lease.tags"}},
		{"bad value", map[string]string{"k": "a b"}, 0, codes.InvalidArgument, []string{"lease.tags[k]", "not a valid label value"}},
		{"long value", map[string]string{"k": strings.Repeat("v", 64)}, 0, codes.InvalidArgument, []string{"not a valid label value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantStatus(t, ValidateTags("lease.tags", tt.tags, tt.maxTags), tt.code, tt.parts...)
		})
	}
}

func TestValidateContext(t *testing.T) {
	nine := map[string]string{}
	for i := range 9 {
		nine[fmt.Sprintf("k%d", i)] = "v"
	}
	tests := []struct {
		name  string
		ctx   map[string]string
		code  codes.Code
		parts []string
	}{
		{"ok", map[string]string{"build": "1234", strings.Repeat("k", 32): strings.Repeat("v", 64), "ünïcödé": strings.Repeat("é", 64)}, codes.OK, nil},
		{"too many", nine, codes.InvalidArgument, []string{"lease.context", "at most 8"}},
		{"empty key", map[string]string{"": "v"}, codes.InvalidArgument, []string{"must not be empty"}},
		{"long key", map[string]string{strings.Repeat("k", 33): "v"}, codes.InvalidArgument, []string{"at most 32 characters"}},
		{"long value", map[string]string{"k": strings.Repeat("v", 65)}, codes.InvalidArgument, []string{"lease.context[k]", "64"}},
		{"huge value", map[string]string{"k": strings.Repeat("v", 100_000)}, codes.InvalidArgument, []string{"lease.context[k]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantStatus(t, ValidateContext("lease.context", tt.ctx), tt.code, tt.parts...)
		})
	}
}

func TestLeaseID(t *testing.T) {
	id, err := LeaseID("lease_id", "")
	if err != nil {
		t.Fatal(err)
	}
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 || id != u.String() {
		t.Errorf("generated id %q is not a UUIDv7 string (%v)", id, err)
	}
	next, _ := LeaseID("lease_id", "")
	if next <= id {
		t.Errorf("ids are not time-ordered: %q then %q", id, next)
	}
	if got, err := LeaseID("lease_id", "my-lease.1"); err != nil || got != "my-lease.1" {
		t.Errorf("LeaseID(my-lease.1) = %q, %v; want it verbatim", got, err)
	}
	for _, bad := range []string{"My_Lease", "-x", "a/b", strings.Repeat("a", 64)} {
		_, err := LeaseID("lease_id", bad)
		wantStatus(t, err, codes.InvalidArgument, "lease_id")
	}
}
