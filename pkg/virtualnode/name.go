package virtualnode

import (
	"crypto/sha256"
	"encoding/hex"
)

const (
	nodeNamePrefix = "exporter-"
	// maxNodeNameLength is the limit of a DNS subdomain, which a Node name must be.
	maxNodeNameLength = 253
	hashSuffixLength  = 16
)

// NodeName is the virtual node of exporter namespace/name. A namespace never contains a dot, so
// splitting at the first dot recovers both halves: two exporters never share a node name. Names
// that would be too long keep a readable prefix and end in a hash of the full pair.
func NodeName(namespace, name string) string {
	full := nodeNamePrefix + namespace + "." + name
	if len(full) <= maxNodeNameLength {
		return full
	}
	sum := sha256.Sum256([]byte(namespace + "/" + name))
	suffix := hex.EncodeToString(sum[:])[:hashSuffixLength]
	keep := maxNodeNameLength - len(suffix) - 1
	prefix := full[:keep]
	// A DNS subdomain label must end in an alphanumeric character.
	for len(prefix) > 0 && (prefix[len(prefix)-1] == '.' || prefix[len(prefix)-1] == '-') {
		prefix = prefix[:len(prefix)-1]
	}
	return prefix + "-" + suffix
}
