package leaseapi

import (
	"cmp"
	"encoding/base64"
	"slices"
	"strings"
)

// pageTokenPrefix versions page tokens, so that a token of another listing or of a future
// format is refused rather than misread.
const pageTokenPrefix = "v1:"

// Page cuts one page out of a listing (wire contract §3.5): it sorts items by name, skips those
// up to the item a pageToken points after, and returns at most pageSize items (0: all) and the
// token of the next page, "" on the last page. Tokens are opaque to clients; a token stays
// valid when items come and go between pages. kind ("exporters", "leases") ties a token to its
// listing.
func Page[T any](items []T, name func(*T) string, kind string, pageSize int32, pageToken string) ([]T, string, error) {
	if pageSize < 0 {
		return nil, "", invalidArgument("page_size", "must not be negative, got %d", pageSize)
	}
	slices.SortFunc(items, func(a, b T) int { return cmp.Compare(name(&a), name(&b)) })
	if pageToken != "" {
		after, err := decodePageToken(kind, pageToken)
		if err != nil {
			return nil, "", err
		}
		start, found := slices.BinarySearchFunc(items, after, func(item T, target string) int { return cmp.Compare(name(&item), target) })
		if found {
			start++
		}
		items = items[start:]
	}
	if pageSize == 0 || len(items) <= int(pageSize) {
		return items, "", nil
	}
	page := items[:pageSize]
	return page, encodePageToken(kind, name(&page[len(page)-1])), nil
}

func encodePageToken(kind, last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + kind + "/" + last))
}

func decodePageToken(kind, token string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err == nil {
		if last, ok := strings.CutPrefix(string(raw), pageTokenPrefix+kind+"/"); ok && last != "" {
			return last, nil
		}
	}
	return "", invalidArgument("page_token", "%s is not a page token of this listing; pass next_page_token of the previous response", quote(token))
}
