package leaseapi

import (
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func req(key string, op metav1.LabelSelectorOperator, values ...string) metav1.LabelSelectorRequirement {
	return metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: values}
}

func TestParseSelector(t *testing.T) {
	tests := []struct {
		in      string
		want    *metav1.LabelSelector
		render  string
		wantErr string
	}{
		{in: "", want: &metav1.LabelSelector{}, render: "<none>"},
		{in: "board=rpi4", want: &metav1.LabelSelector{MatchLabels: map[string]string{"board": "rpi4"}}, render: "board=rpi4"},
		{in: "board==rpi4", want: &metav1.LabelSelector{MatchLabels: map[string]string{"board": "rpi4"}}, render: "board=rpi4"},
		{in: "b=2, a=1", want: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "1", "b": "2"}}, render: "a=1,b=2"},
		{in: "a=1,a=1", want: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "1"}}, render: "a=1"},
		{in: "k=", want: &metav1.LabelSelector{MatchLabels: map[string]string{"k": ""}}, render: "k="},
		{in: "x!=2,x!=1", want: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req("x", metav1.LabelSelectorOpNotIn, "1", "2")}},
			render: "x notin (1,2)"},
		{in: "x!=1,x notin (2,3)", want: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req("x", metav1.LabelSelectorOpNotIn, "1", "2", "3")}},
			render: "x notin (1,2,3)"},
		{in: "k in (y,x,y)", want: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req("k", metav1.LabelSelectorOpIn, "x", "y")}},
			render: "k in (x,y)"},
		{in: "k", want: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req("k", metav1.LabelSelectorOpExists)}}, render: "k"},
		{in: "!k", want: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req("k", metav1.LabelSelectorOpDoesNotExist)}}, render: "!k"},
		{in: "z,!y,board=rpi4,a in (1)", want: &metav1.LabelSelector{
			MatchLabels: map[string]string{"board": "rpi4"},
			MatchExpressions: []metav1.LabelSelectorRequirement{
				req("a", metav1.LabelSelectorOpIn, "1"), req("y", metav1.LabelSelectorOpDoesNotExist), req("z", metav1.LabelSelectorOpExists),
			}}, render: "a in (1),board=rpi4,!y,z"},
		{in: "jumpstarter.dev/name=board1", want: &metav1.LabelSelector{MatchLabels: map[string]string{"jumpstarter.dev/name": "board1"}},
			render: "jumpstarter.dev/name=board1"},
		{in: "a=1,a=2", wantErr: "cannot equal both"},
		{in: "a>1", wantErr: "not supported"},
		{in: "a b", wantErr: "unable to parse"},
		{in: "a=(", wantErr: ""},
		{in: "a in ()", want: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req("a", metav1.LabelSelectorOpIn, "")}},
			render: "a in ()"},
		{in: "Bad Key=1", wantErr: ""},
		{in: "k=" + strings.Repeat("v", 64), wantErr: ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSelector(tt.in)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("ParseSelector(%q) = %v, want an error", tt.in, got)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSelector(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseSelector(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if r := FormatSelector(got); r != tt.render {
				t.Errorf("FormatSelector = %q, want %q", r, tt.render)
			}
		})
	}
}

func TestFormatSelector(t *testing.T) {
	tests := []struct {
		name string
		sel  *metav1.LabelSelector
		want string
	}{
		{"nil", nil, "<none>"},
		{"empty", &metav1.LabelSelector{}, "<none>"},
		{"unsorted expressions", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			req("b", metav1.LabelSelectorOpNotIn, "2", "1"), req("a", metav1.LabelSelectorOpExists),
		}}, "a,b notin (1,2)"},
		{"bad operator", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req("a", "Gt", "1")}}, "<invalid>"},
		{"in without values", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req("a", metav1.LabelSelectorOpIn)}}, "<invalid>"},
	}
	for _, tt := range tests {
		if got := FormatSelector(tt.sel); got != tt.want {
			t.Errorf("%s: FormatSelector = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestParseFilter(t *testing.T) {
	if _, err := ParseFilter("filter", "board=rpi4,!busy"); err != nil {
		t.Fatal(err)
	}
	_, err := ParseFilter("filter", "board=(")
	wantStatus(t, err, codes.InvalidArgument, "filter", `"board=("`)
	_, err = ParseFilter("filter", strings.Repeat("a", 100_000))
	wantStatus(t, err, codes.InvalidArgument, "filter", "longer than the limit")
}

func TestListLeasesSelector(t *testing.T) {
	tests := []struct {
		filter, tags string
		onlyActive   bool
		match, miss  labels.Set
		code         codes.Code
		field        string
	}{
		{filter: "board=rpi4", onlyActive: true,
			match: labels.Set{"board": "rpi4"}, miss: labels.Set{"board": "rpi4", "jumpstarter.dev/lease-ended": "true"}},
		{filter: "board=rpi4", onlyActive: false,
			match: labels.Set{"board": "rpi4", "jumpstarter.dev/lease-ended": "true"}, miss: labels.Set{"board": "x"}},
		{tags: "team=qa,ci", onlyActive: true,
			match: labels.Set{"metadata.jumpstarter.dev/team": "qa", "metadata.jumpstarter.dev/ci": "1"},
			miss:  labels.Set{"team": "qa", "ci": "1"}},
		{filter: "a=(", code: codes.InvalidArgument, field: "filter"},
		{tags: "a b", code: codes.InvalidArgument, field: "tag_filter"},
		{tags: "x/y=1", code: codes.InvalidArgument, field: "tag_filter"},
	}
	for _, tt := range tests {
		sel, err := ListLeasesSelector(tt.filter, tt.tags, tt.onlyActive)
		wantStatus(t, err, tt.code, tt.field)
		if err != nil {
			continue
		}
		if !sel.Matches(tt.match) {
			t.Errorf("%s / %s: %v does not match %v", tt.filter, tt.tags, sel, tt.match)
		}
		if sel.Matches(tt.miss) {
			t.Errorf("%s / %s: %v matches %v", tt.filter, tt.tags, sel, tt.miss)
		}
	}
}

func TestValidateLabelSelector(t *testing.T) {
	ok := &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
	wantStatus(t, ValidateLabelSelector("selector", ok), codes.OK)
	bad := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req("a", "Gt", "1")}}
	wantStatus(t, ValidateLabelSelector("selector", bad), codes.InvalidArgument, "selector.matchExpressions[0].operator")
	huge := &metav1.LabelSelector{MatchLabels: map[string]string{}}
	for i := range 1000 {
		huge.MatchLabels[strings.Repeat("k", 10)+string(rune('a'+i%26))+strings.Repeat("x", i%30)] = "v"
	}
	huge.MatchLabels[strings.Repeat("y", 5000)] = "v"
	wantStatus(t, ValidateLabelSelector("selector", huge), codes.InvalidArgument, "selector", "longer than the limit")
}

// FuzzParseSelector: the parser never panics, and whatever it accepts is a valid structured
// selector whose rendering parses back to the same selector and renders the same again.
func FuzzParseSelector(f *testing.F) {
	for _, seed := range []string{
		"", "board=rpi4", "a=1,b=2", "k==v", "k!=v", "x!=1,x!=2", "k in (a,b)", "k notin (a)", "k", "!k",
		"a in (1),board=rpi4,!y,z", "jumpstarter.dev/name=board1", "a=1,a=1", "a=1,a=2", "a>1", "a<1",
		"k=", "k in (,a)", "k in (a,)", " a = b ", "a=b,", ",", "!", "!!k", "a in (b", "a notin ()",
		"example.com/x=y,example.com/x notin (z)", "a,a,!a", "a in (1),a in (2),a=1",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelector(s)
		if err != nil {
			return
		}
		if errs := metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, field.NewPath("selector")); len(errs) > 0 {
			t.Fatalf("ParseSelector(%q) = %#v, which is invalid: %v", s, sel, errs)
		}
		if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
			t.Fatalf("ParseSelector(%q) = %#v, which does not convert: %v", s, sel, err)
		}
		rendered := FormatSelector(sel)
		if IsEmptySelector(sel) {
			if rendered != SelectorNone {
				t.Fatalf("empty selector of %q renders as %q", s, rendered)
			}
			return
		}
		again, err := ParseSelector(rendered)
		if err != nil {
			t.Fatalf("rendering %q of %q does not parse: %v", rendered, s, err)
		}
		if !reflect.DeepEqual(sel, again) {
			t.Fatalf("%q parses to %#v, its rendering %q to %#v", s, sel, rendered, again)
		}
		if r := FormatSelector(again); r != rendered {
			t.Fatalf("rendering is not stable: %q then %q", rendered, r)
		}
	})
}
