package token

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// Kind is the kind of object a token stands for, as written in the subject.
type Kind string

// The kinds in a subject. The gRPC metadata spells them Client and Exporter.
const (
	KindClient   Kind = "client"
	KindExporter Kind = "exporter"
)

// Subject is the object a token was issued for. UID tells a re-created object from the one
// the token was issued to.
type Subject struct {
	Kind      Kind
	Namespace string
	Name      string
	UID       types.UID
}

// String is the JWT sub claim: <kind>:<namespace>:<name>:<uid>.
func (s Subject) String() string {
	return string(s.Kind) + ":" + s.Namespace + ":" + s.Name + ":" + string(s.UID)
}

// ParseSubject parses a sub claim. Namespaces, names and UIDs cannot contain a colon, so the
// split is unambiguous.
func ParseSubject(sub string) (Subject, error) {
	parts := strings.Split(sub, ":")
	if len(parts) != 4 {
		return Subject{}, fmt.Errorf("subject %q: want <kind>:<namespace>:<name>:<uid>", sub)
	}
	s := Subject{Kind: Kind(parts[0]), Namespace: parts[1], Name: parts[2], UID: types.UID(parts[3])}
	if err := s.validate(); err != nil {
		return Subject{}, fmt.Errorf("subject %q: %w", sub, err)
	}
	return s, nil
}

func (s Subject) validate() error {
	if s.Kind != KindClient && s.Kind != KindExporter {
		return fmt.Errorf("unknown kind %q", s.Kind)
	}
	for field, v := range map[string]string{"namespace": s.Namespace, "name": s.Name, "uid": string(s.UID)} {
		if v == "" {
			return fmt.Errorf("empty %s", field)
		}
		if strings.Contains(v, ":") {
			return fmt.Errorf("%s %q contains a colon", field, v)
		}
	}
	return nil
}
