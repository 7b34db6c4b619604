package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mtguard/mtguard/cli"
	"github.com/mtguard/mtguard/config"
	"github.com/mtguard/mtguard/txn"
	"github.com/mtguard/mtguard/vendors"
)

// presetsDoc is the page that documents the vendor presets and the rule format.
const presetsDoc = "docs/presets-and-rules.md"

// TestReadmePresets keeps the preset table of docs/presets-and-rules.md equal to the shipped
// presets. Run with MTGUARD_UPDATE_README=1 to rewrite the table from the presets.
func TestReadmePresets(t *testing.T) {
	var want strings.Builder
	for _, name := range vendors.PresetNames() {
		p, err := vendors.LoadPreset(name)
		if err != nil {
			t.Fatal(err)
		}
		upstream := "`" + p.Upstream + "`"
		switch {
		case name == vendors.GenericPreset:
			upstream = "none"
		case p.Upstream == "":
			upstream = "per account"
		}
		fmt.Fprintf(&want, "| `%s` | %s | %s | %s | %s |\n", name, p.Title, upstream, cli.LimitsSummary(p.Limits), presetCodes(p))
	}
	checkDocSection(t, presetsDoc, "presets", "the presets", "TestReadmePresets", want.String())
}

// presetCodes lists the finding codes a preset's own rules and version rules can report.
func presetCodes(p *vendors.Preset) string {
	var codes []string
	for _, r := range slices.Concat(p.Auth, p.LimitSignals, p.Outcomes) {
		switch {
		case r.Finding != "":
			codes = append(codes, r.Finding)
		case r.HasRecords():
			codes = append(codes, txn.CodePartialFailure, txn.CodeSilentFailure)
		}
	}
	for _, v := range p.Versions {
		codes = append(codes, txn.CodeEndpointRetired)
		if len(v.Table) > 0 || v.Lifecycle != nil {
			codes = append(codes, txn.CodeEndpointDeprecated)
		}
		if v.Header != "" {
			codes = append(codes, txn.CodeVersionUnpinned)
		}
	}
	slices.Sort(codes)
	codes = slices.Compact(codes)
	if len(codes) == 0 {
		return "the generic rules only"
	}
	return "`" + strings.Join(codes, "`, `") + "`"
}

// TestReadmePresetExamples parses the YAML examples of docs/presets-and-rules.md as route
// config, so that the documented format cannot drift from the parser.
func TestReadmePresetExamples(t *testing.T) {
	raw, err := os.ReadFile(presetsDoc)
	if err != nil {
		t.Fatal(err)
	}
	section := string(raw)
	var blocks []string
	for _, part := range strings.Split(section, "```yaml\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		blocks = append(blocks, block)
	}
	if len(blocks) != 5 {
		t.Fatalf("found %d YAML examples in %s, want 5 (update this test with the page)", len(blocks), presetsDoc)
	}
	indent := func(s, by string) string {
		return by + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+by) + "\n"
	}
	const route = "routes:\n  - name: r\n    prefix: /r\n    upstream: https://example.com\n"
	configs := []string{
		blocks[0],                         // a route with a preset
		route + indent(blocks[1], "    "), // outcome rules
		route + indent(blocks[2], "    "), // version rules
		route + indent(blocks[3], "    "), // limits
		"routes:\n" + blocks[4],           // overriding a preset
	}
	for i, cfg := range configs {
		if _, err := config.Parse(fmt.Sprintf("%s example %d", presetsDoc, i+1), []byte(cfg)); err != nil {
			t.Errorf("%v\n%s", err, cfg)
		}
	}
}
