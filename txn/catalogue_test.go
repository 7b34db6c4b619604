package txn

import "testing"

func TestCatalogueEntriesAreComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Catalogue() {
		if seen[f.Code] {
			t.Errorf("%s: listed twice", f.Code)
		}
		seen[f.Code] = true
		switch f.Severity {
		case SeverityInfo, SeverityWarn, SeverityError:
		default:
			t.Errorf("%s: severity %q is not info, warn or error", f.Code, f.Severity)
		}
		if f.Title == "" || f.Action == "" {
			t.Errorf("%s: needs a title and an action", f.Code)
		}
		if got, ok := Lookup(f.Code); !ok || got != f {
			t.Errorf("%s: Lookup = %+v, %v", f.Code, got, ok)
		}
	}
}

func TestNewFindingTakesTheCatalogueSeverity(t *testing.T) {
	tests := []struct {
		code string
		want Severity
	}{
		{CodeSchemaResponseInvalid, SeverityWarn},
		{CodeUpstreamTimeout, SeverityError},
		{"no.such.code", ""},
	}
	for _, tt := range tests {
		if got := NewFinding(tt.code, "m", "d").Severity; got != tt.want {
			t.Errorf("NewFinding(%q).Severity = %q, want %q", tt.code, got, tt.want)
		}
	}
}
