package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// docPages are the Markdown files whose relative links must resolve: the README, the manual,
// and the READMEs they link to.
func docPages(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"README.md", "bench/README.md", "examples/README.md"}, pages...)
}

var (
	// mdLink matches an inline link or image, [text](target) or [text](target "title").
	mdLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	// htmlID matches an explicit anchor, <a id="..."> or <a name="...">.
	htmlID = regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`)
	// codeSpan matches inline code, whose brackets are not links.
	codeSpan = regexp.MustCompile("`[^`]*`")
)

// TestDocsLinks fails on a relative link in README.md or docs/*.md to a file that does not
// exist, or to an anchor that the target file does not define.
func TestDocsLinks(t *testing.T) {
	anchors := map[string]map[string]bool{} // file -> its anchors
	anchorsOf := func(file string) map[string]bool {
		if a, ok := anchors[file]; ok {
			return a
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		a := markdownAnchors(string(raw))
		anchors[file] = a
		return a
	}
	for _, page := range docPages(t) {
		raw, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for n, line := range proseLines(string(raw)) {
			if line == "" {
				continue
			}
			for _, m := range mdLink.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, ""), -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				path := page
				if file != "" {
					path = filepath.Join(filepath.Dir(page), filepath.FromSlash(file))
				}
				info, err := os.Stat(path)
				if err != nil {
					t.Errorf("%s:%d: link %q: %s does not exist", page, n+1, target, path)
					continue
				}
				if anchor == "" {
					continue
				}
				if info.IsDir() || !strings.HasSuffix(path, ".md") {
					t.Errorf("%s:%d: link %q: an anchor into %s, which is not a Markdown file", page, n+1, target, path)
					continue
				}
				if !anchorsOf(path)[anchor] {
					t.Errorf("%s:%d: link %q: %s has no anchor %q", page, n+1, target, path, anchor)
				}
			}
		}
	}
}

// proseLines returns the file's lines with those inside fenced code blocks blanked, so that
// line numbers still match.
func proseLines(text string) []string {
	lines := strings.Split(text, "\n")
	fenced := false
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			fenced = !fenced
			lines[i] = ""
			continue
		}
		if fenced {
			lines[i] = ""
		}
	}
	return lines
}

// markdownAnchors returns the anchors a Markdown file defines the way GitHub renders it: one
// per heading (lower case, punctuation dropped, spaces as dashes, -1, -2 ... for repeats) and
// every explicit <a id="...">.
func markdownAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, l := range proseLines(text) {
		for _, m := range htmlID.FindAllStringSubmatch(l, -1) {
			anchors[m[1]] = true
		}
		if !strings.HasPrefix(l, "#") {
			continue
		}
		heading := strings.TrimSpace(strings.TrimLeft(l, "#"))
		slug := headingSlug(heading)
		if k := seen[slug]; k > 0 {
			anchors[slug+"-"+strconv.Itoa(k)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	return anchors
}

var linkText = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)

// headingSlug is GitHub's anchor for a heading's text.
func headingSlug(heading string) string {
	heading = linkText.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestReadmeIsADoor keeps README.md short: the reference lives in docs/.
func TestReadmeIsADoor(t *testing.T) {
	info, err := os.Stat("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() > 15000 {
		t.Errorf("README.md is %d bytes, more than 15000: move reference material to docs/", info.Size())
	}
}
