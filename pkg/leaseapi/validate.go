package leaseapi

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation/field"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// Limits of a lease request (wire contract §3.6).
const (
	// DefaultMaxTags is how many tags a lease may have unless configured otherwise (upstream
	// maxTags default).
	DefaultMaxTags = 10
	// MaxContextEntries, MaxContextKeyLength and MaxContextValueLength bound the context handed
	// to the exporter (lengths in characters).
	MaxContextEntries     = 8
	MaxContextKeyLength   = 32
	MaxContextValueLength = 64
	// MaxLeaseIDLength: a lease's name is also the value of its placeholder pod's
	// jumpstarter.dev/lease label, so it must fit a label value.
	MaxLeaseIDLength = content.LabelValueMaxLength
)

// short cuts a request value for a field error, which quotes it.
func short(s string) string {
	if len(s) > maxQuotedLength {
		return s[:maxQuotedLength] + "..."
	}
	return s
}

// ValidateTags checks the tags of a new lease: at most maxTags (0: DefaultMaxTags); keys
// without '/' and without a reserved prefix, which become valid label keys once prefixed with
// TagLabelPrefix; values that are valid label values.
func ValidateTags(fieldName string, tags map[string]string, maxTags int) error {
	if maxTags <= 0 {
		maxTags = DefaultMaxTags
	}
	path := field.NewPath(fieldName)
	if len(tags) > maxTags {
		return invalidFields(field.ErrorList{field.TooMany(path, len(tags), maxTags)})
	}
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		keyPath := path.Key(short(k))
		switch {
		case strings.HasPrefix(k, TagLabelPrefix) || strings.HasPrefix(k, jumpstarterv1alpha1.LabelPrefix):
			errs = append(errs, field.Invalid(keyPath, short(k),
				fmt.Sprintf("tag keys must not start with %s or %s", jumpstarterv1alpha1.LabelPrefix, TagLabelPrefix)))
		case strings.Contains(k, "/"):
			errs = append(errs, field.Invalid(keyPath, short(k), "tag keys must not contain '/' (the server adds the prefix)"))
		default:
			if msgs := content.IsLabelKey(TagLabelPrefix + k); len(msgs) > 0 {
				errs = append(errs, field.Invalid(keyPath, short(k), "tag key is not a valid label key once prefixed with "+
					TagLabelPrefix+": "+strings.Join(msgs, "; ")))
			}
		}
		if msgs := content.IsLabelValue(tags[k]); len(msgs) > 0 {
			errs = append(errs, field.Invalid(keyPath, short(tags[k]), "tag value is not a valid label value: "+strings.Join(msgs, "; ")))
		}
	}
	return invalidFields(errs)
}

// ValidateContext checks the context of a new lease: at most MaxContextEntries entries,
// non-empty keys of at most MaxContextKeyLength characters, values of at most
// MaxContextValueLength characters.
func ValidateContext(fieldName string, context map[string]string) error {
	path := field.NewPath(fieldName)
	if len(context) > MaxContextEntries {
		return invalidFields(field.ErrorList{field.TooMany(path, len(context), MaxContextEntries)})
	}
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(context)) {
		keyPath := path.Key(short(k))
		switch {
		case k == "":
			errs = append(errs, field.Invalid(keyPath, k, "context keys must not be empty"))
		case utf8.RuneCountInString(k) > MaxContextKeyLength:
			errs = append(errs, field.Invalid(keyPath, short(k), fmt.Sprintf("context keys must be at most %d characters", MaxContextKeyLength)))
		}
		if utf8.RuneCountInString(context[k]) > MaxContextValueLength {
			errs = append(errs, field.TooLongCharacters(keyPath, context[k], MaxContextValueLength))
		}
	}
	return invalidFields(errs)
}

// LeaseID is the name of a new lease: the caller's lease_id verbatim once checked, or a fresh
// UUIDv7 (time-ordered, so names sort by creation) when it is empty.
func LeaseID(fieldName, requested string) (string, error) {
	if requested == "" {
		return NewLeaseID()
	}
	if err := ValidateObjectName(fieldName, requested); err != nil {
		return "", err
	}
	if len(requested) > MaxLeaseIDLength {
		return "", invalidArgument(fieldName, "%s is longer than %d characters", quote(requested), MaxLeaseIDLength)
	}
	return requested, nil
}

// NewLeaseID is a fresh lease name, a UUIDv7 string as the reference generates.
func NewLeaseID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("generate lease id: %w", err)
	}
	return id.String(), nil
}
