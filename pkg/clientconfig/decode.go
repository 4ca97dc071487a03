package clientconfig

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Errors name the key as a dotted path from the document root ("leases.dial_timeout") and the
// line, because the decoder's own messages name Go types instead.

// Short tags of resolved YAML scalars.
const (
	tagNull  = "!!null"
	tagBool  = "!!bool"
	tagInt   = "!!int"
	tagFloat = "!!float"
	tagStr   = "!!str"
)

// document parses data into its root node, which must be a mapping.
func document(data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, fmt.Errorf("empty document")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("the document is not a mapping (line %d)", root.Line)
	}
	return root, nil
}

// entry is one key of a mapping, in file order.
type entry struct {
	key   string
	line  int
	value *yaml.Node
}

// mapping returns the entries of n in file order. A null node is an empty mapping. With
// allowed non-nil, keys not in it are errors.
func mapping(n *yaml.Node, path string, allowed []string) ([]entry, error) {
	n = resolveAlias(n)
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, typeError(n, path, "a mapping")
	}
	entries := make([]entry, 0, len(n.Content)/2)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolveAlias(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s: keys must be strings (line %d)", orRoot(path), k.Line)
		}
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			return nil, fmt.Errorf("%s: merge keys (<<) are not supported (line %d)", orRoot(path), k.Line)
		}
		if seen[k.Value] {
			return nil, fmt.Errorf("%s: duplicate key (line %d)", join(path, k.Value), k.Line)
		}
		seen[k.Value] = true
		if allowed != nil && !slices.Contains(allowed, k.Value) {
			return nil, fmt.Errorf("%s: unknown key (line %d); allowed here: %s", join(path, k.Value), k.Line, strings.Join(allowed, ", "))
		}
		entries = append(entries, entry{key: k.Value, line: k.Line, value: v})
	}
	return entries, nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == tagNull)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "document"
	}
	return path
}

func typeError(n *yaml.Node, path, want string) error {
	got := n.ShortTag()
	switch n.Kind {
	case yaml.MappingNode:
		got = "a mapping"
	case yaml.SequenceNode:
		got = "a list"
	case yaml.ScalarNode:
		got = fmt.Sprintf("%q (%s)", n.Value, strings.TrimPrefix(n.ShortTag(), "!!"))
	}
	return fmt.Errorf("%s: want %s, got %s (line %d)", path, want, got, n.Line)
}

// scalar returns n if it is a scalar of one of the tags.
func scalar(n *yaml.Node, path, want string, tags ...string) (*yaml.Node, error) {
	n = resolveAlias(n)
	if n.Kind != yaml.ScalarNode || !slices.Contains(tags, n.ShortTag()) {
		return nil, typeError(n, path, want)
	}
	return n, nil
}

// decodeString decodes a string; null leaves dst alone.
func decodeString(n *yaml.Node, path string, dst *string) error {
	if isNull(resolveAlias(n)) {
		return nil
	}
	s, err := scalar(n, path, "a string", tagStr)
	if err != nil {
		return err
	}
	*dst = s.Value
	return nil
}

// decodeOptionalString decodes a string that may be null.
func decodeOptionalString(n *yaml.Node, path string, dst **string) error {
	if isNull(resolveAlias(n)) {
		*dst = nil
		return nil
	}
	var s string
	if err := decodeString(n, path, &s); err != nil {
		return err
	}
	*dst = &s
	return nil
}

// decodeBool decodes a boolean; null leaves dst alone.
func decodeBool(n *yaml.Node, path string, dst *bool) error {
	if isNull(resolveAlias(n)) {
		return nil
	}
	s, err := scalar(n, path, "true or false", tagBool)
	if err != nil {
		return err
	}
	return s.Decode(dst)
}

// decodeInt decodes an integer; null leaves dst alone.
func decodeInt(n *yaml.Node, path string, dst *int) error {
	if isNull(resolveAlias(n)) {
		return nil
	}
	s, err := scalar(n, path, "an integer", tagInt)
	if err != nil {
		return err
	}
	if err := s.Decode(dst); err != nil {
		return fmt.Errorf("%s: %q is not an integer (line %d)", path, s.Value, s.Line)
	}
	return nil
}

// decodeFloat decodes a number; null leaves dst alone.
func decodeFloat(n *yaml.Node, path string, dst *float64) error {
	if isNull(resolveAlias(n)) {
		return nil
	}
	s, err := scalar(n, path, "a number", tagInt, tagFloat)
	if err != nil {
		return err
	}
	if err := s.Decode(dst); err != nil {
		return fmt.Errorf("%s: %q is not a number (line %d)", path, s.Value, s.Line)
	}
	return nil
}

// decodeStringList decodes a list of strings; null is an empty list.
func decodeStringList(n *yaml.Node, path string, dst *[]string) error {
	n = resolveAlias(n)
	if isNull(n) {
		*dst = []string{}
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return typeError(n, path, "a list of strings")
	}
	out := make([]string, 0, len(n.Content))
	for i, item := range n.Content {
		var s string
		if err := decodeString(item, fmt.Sprintf("%s[%d]", path, i), &s); err != nil {
			return err
		}
		out = append(out, s)
	}
	*dst = out
	return nil
}

// decodeStringMap decodes a mapping of strings to strings.
func decodeStringMap(n *yaml.Node, path string, dst *map[string]string) error {
	entries, err := mapping(n, path, nil)
	if err != nil {
		return err
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		var s string
		if err := decodeString(e.value, join(path, e.key), &s); err != nil {
			return err
		}
		out[e.key] = s
	}
	*dst = out
	return nil
}

// decodeGRPCOptions decodes grpcOptions: channel option names to a string or an integer.
func decodeGRPCOptions(n *yaml.Node, path string, dst *map[string]any) error {
	entries, err := mapping(n, path, nil)
	if err != nil {
		return err
	}
	out := make(map[string]any, len(entries))
	for _, e := range entries {
		v, err := scalar(e.value, join(path, e.key), "a string or an integer", tagStr, tagInt)
		if err != nil {
			return err
		}
		if v.ShortTag() == tagStr {
			out[e.key] = v.Value
			continue
		}
		var i int
		if err := v.Decode(&i); err != nil {
			return fmt.Errorf("%s: %q is not an integer (line %d)", join(path, e.key), v.Value, v.Line)
		}
		out[e.key] = i
	}
	*dst = out
	return nil
}

// decodeAny decodes any YAML value into plain Go values (maps, lists, scalars).
func decodeAny(n *yaml.Node, path string, dst *map[string]any) error {
	n = resolveAlias(n)
	if isNull(n) {
		*dst = nil
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return typeError(n, path, "a mapping")
	}
	var m map[string]any
	if err := n.Decode(&m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	*dst = m
	return nil
}

// literal checks a required literal field such as apiVersion or kind.
func literal(n *yaml.Node, path, want string) error {
	var got string
	if n == nil || isNull(resolveAlias(n)) {
		return fmt.Errorf("%s: missing, want %q", path, want)
	}
	if err := decodeString(n, path, &got); err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s: %q, want %q (line %d)", path, got, want, n.Line)
	}
	return nil
}

// decodeHeader reads a config document's top-level mapping (refusing keys outside allowed,
// unless allowed is nil), checks apiVersion and kind, and decodes metadata into meta. It
// returns the top-level entries in file order for the kind-specific keys.
func decodeHeader(data []byte, allowed []string, kind string, meta *ObjectMeta) ([]entry, error) {
	root, err := document(data)
	if err != nil {
		return nil, err
	}
	entries, err := mapping(root, "", allowed)
	if err != nil {
		return nil, err
	}
	byKey := map[string]*yaml.Node{}
	for _, e := range entries {
		byKey[e.key] = e.value
	}
	if err := literal(byKey["apiVersion"], "apiVersion", APIVersion); err != nil {
		return nil, err
	}
	if err := literal(byKey["kind"], "kind", kind); err != nil {
		return nil, err
	}
	if err := decodeObjectMeta(byKey["metadata"], "metadata", meta); err != nil {
		return nil, err
	}
	return entries, nil
}
