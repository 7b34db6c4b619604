package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mtguard/mtguard/schemas"
)

// TestReadmeFindings keeps README's finding table equal to the catalogue in package schemas.
// Run with MTGUARD_UPDATE_README=1 to rewrite the table from the catalogue.
func TestReadmeFindings(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- findings:begin -->\n", "<!-- findings:end -->"
	text := string(raw)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q ... %q markers", begin, end)
	}
	var want strings.Builder
	for _, f := range schemas.Catalogue() {
		fmt.Fprintf(&want, "| <a id=%q></a>`%s` | %s | %s | %s |\n", f.Anchor(), f.Code, f.Severity, f.Title, f.Action)
	}
	got := text[i+len(begin) : j]
	if got == want.String() {
		return
	}
	if os.Getenv("MTGUARD_UPDATE_README") == "1" {
		if err := os.WriteFile("README.md", []byte(text[:i+len(begin)]+want.String()+text[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's finding table differs from schemas.Catalogue(); run MTGUARD_UPDATE_README=1 go test -run TestReadmeFindings .\ngot:\n%s\nwant:\n%s", got, want.String())
}
