package leaseapi

import (
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
)

func TestPage(t *testing.T) {
	id := func(s *string) string { return *s }
	items := []string{"e", "b", "d", "a", "c"}

	var got []string
	token := ""
	for pages := 1; ; pages++ {
		page, next, err := Page(slices.Clone(items), id, "leases", 2, token)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if next == "" {
			if pages != 3 {
				t.Errorf("%d pages, want 3", pages)
			}
			break
		}
		token = next
	}
	if !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) {
		t.Errorf("pages gave %v", got)
	}

	all, next, err := Page(slices.Clone(items), id, "leases", 0, "")
	if err != nil || next != "" || len(all) != 5 {
		t.Errorf("page size 0: %v %q %v", all, next, err)
	}
	exact, next, err := Page(slices.Clone(items), id, "leases", 5, "")
	if err != nil || next != "" || len(exact) != 5 {
		t.Errorf("page size = items: %v %q %v", exact, next, err)
	}

	// The item a token points after may go away between pages.
	_, token, _ = Page(slices.Clone(items), id, "leases", 2, "")
	rest, _, err := Page([]string{"a", "c", "d", "e"}, id, "leases", 10, token)
	if err != nil || !slices.Equal(rest, []string{"c", "d", "e"}) {
		t.Errorf("after a deletion: %v %v", rest, err)
	}

	_, _, err = Page(slices.Clone(items), id, "exporters", 2, token)
	wantStatus(t, err, codes.InvalidArgument, "page_token")
	_, _, err = Page(slices.Clone(items), id, "leases", 2, "not a token!")
	wantStatus(t, err, codes.InvalidArgument, "page_token")
	_, _, err = Page(slices.Clone(items), id, "leases", -1, "")
	wantStatus(t, err, codes.InvalidArgument, "page_size")
}
