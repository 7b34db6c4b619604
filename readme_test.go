package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mtguard/mtguard/txn"
)

// TestReadmeFindings keeps README's finding table equal to the catalogue in package schemas.
// Run with MTGUARD_UPDATE_README=1 to rewrite the table from the catalogue.
func TestReadmeFindings(t *testing.T) {
	var want strings.Builder
	for _, f := range txn.Catalogue() {
		fmt.Fprintf(&want, "| <a id=%q></a>`%s` | %s | %s | %s |\n", f.Anchor(), f.Code, f.Severity, f.Title, f.Action)
	}
	checkReadmeSection(t, "findings", "the catalogue in package schemas", "TestReadmeFindings", want.String())
}

// checkReadmeSection compares README's text between <!-- name:begin --> and <!-- name:end -->
// with want, which the code generates, and rewrites it when MTGUARD_UPDATE_README=1.
func checkReadmeSection(t *testing.T, name, source, test, want string) {
	t.Helper()
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	begin, end := "<!-- "+name+":begin -->\n", "<!-- "+name+":end -->"
	text := string(raw)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q ... %q markers", begin, end)
	}
	got := text[i+len(begin) : j]
	if got == want {
		return
	}
	if os.Getenv("MTGUARD_UPDATE_README") == "1" {
		if err := os.WriteFile("README.md", []byte(text[:i+len(begin)]+want+text[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's %s table differs from %s; run MTGUARD_UPDATE_README=1 go test -run %s .\ngot:\n%s\nwant:\n%s", name, source, test, got, want)
}
