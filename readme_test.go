package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/txn"
)

// findingsDoc is the page that documents every finding code. Problem answers link to its
// anchors (finding-<code with dots and underscores as dashes>), so they must stay as they are.
const findingsDoc = "docs/findings.md"

// TestReadmeFindings keeps the findings table of docs/findings.md equal to the catalogue in
// package schemas. Run with MTGUARD_UPDATE_README=1 to rewrite the table from the catalogue.
func TestReadmeFindings(t *testing.T) {
	var want strings.Builder
	for _, f := range txn.Catalogue() {
		fmt.Fprintf(&want, "| <a id=%q></a>`%s` | %s | %s | %s |\n", f.Anchor(), f.Code, f.Severity, f.Title, f.Action)
	}
	checkDocSection(t, findingsDoc, "findings", "the catalogue in package txn", "TestReadmeFindings", want.String())
}

// TestProblemTypesPointAtFindings: the type URL of every problem mtguard answers with names the
// findings page of this repository and an anchor that page has.
func TestProblemTypesPointAtFindings(t *testing.T) {
	if !strings.HasSuffix(txn.FindingsDocs, "/blob/main/"+findingsDoc) {
		t.Fatalf("txn.FindingsDocs = %q, want the repository's %s", txn.FindingsDocs, findingsDoc)
	}
	raw, err := os.ReadFile(findingsDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range txn.Catalogue() {
		_, anchor, _ := strings.Cut(f.DocsURL(), "#")
		if !strings.Contains(string(raw), fmt.Sprintf("<a id=%q></a>", anchor)) {
			t.Errorf("%s: %s has no anchor %q", f.Code, findingsDoc, anchor)
		}
	}
}

// checkDocSection compares the text of the Markdown file between <!-- name:begin --> and
// <!-- name:end --> with want, which the code generates, and rewrites it when
// MTGUARD_UPDATE_README=1.
func checkDocSection(t *testing.T, file, name, source, test, want string) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	begin, end := "<!-- "+name+":begin -->\n", "<!-- "+name+":end -->"
	text := string(raw)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the %q ... %q markers", file, begin, end)
	}
	got := text[i+len(begin) : j]
	if got == want {
		return
	}
	if os.Getenv("MTGUARD_UPDATE_README") == "1" {
		if err := os.WriteFile(file, []byte(text[:i+len(begin)]+want+text[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's %s table differs from %s; run MTGUARD_UPDATE_README=1 go test -run %s .\ngot:\n%s\nwant:\n%s", file, name, source, test, got, want)
}

// TestReadmeTourConfig parses the config of README's five-minute tour, so that the first
// file a new user copies is one mtguard accepts.
func TestReadmeTourConfig(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, example, ok := strings.Cut(string(raw), "```yaml\n")
	if !ok {
		t.Fatal("README.md has no YAML config example")
	}
	example, _, _ = strings.Cut(example, "```")
	if _, err := config.Parse("README.md", []byte(example)); err != nil {
		t.Errorf("README's config example: %v\n%s", err, example)
	}
}
