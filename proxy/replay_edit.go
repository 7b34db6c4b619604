package proxy

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// maxEditLines bounds the changes an edit's finding lists.
const maxEditLines = 20

// editDiff says what a person changed in a body before resending it: for JSON, one line per
// changed field ("properties.email: "jane@exmaple.com" -> "jane@example.com""), secret
// fields' values withheld; for other bodies, the sizes.
func (p *Pipeline) editDiff(orig, edited string) string {
	var a, b any
	if json.Unmarshal([]byte(orig), &a) != nil || json.Unmarshal([]byte(edited), &b) != nil {
		return fmt.Sprintf("body replaced: %d bytes -> %d bytes", len(orig), len(edited))
	}
	var lines []string
	p.diffJSON("", a, b, &lines)
	if len(lines) == 0 {
		return "body resent unchanged"
	}
	sort.Strings(lines)
	n := len(lines)
	if n > maxEditLines {
		lines = append(lines[:maxEditLines], fmt.Sprintf("... and %d more changes", n-maxEditLines))
	}
	return "edited before resending: " + strings.Join(lines, "; ")
}

func (p *Pipeline) diffJSON(path string, a, b any, out *[]string) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for k := range keys {
			sub := k
			if path != "" {
				sub = path + "." + k
			}
			av, ina := am[k]
			bv, inb := bm[k]
			switch {
			case !ina:
				*out = append(*out, sub+": added "+p.shown(k, bv))
			case !inb:
				*out = append(*out, sub+": removed")
			default:
				p.diffJSON(sub, av, bv, out)
			}
		}
		return
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		for i := range al {
			p.diffJSON(fmt.Sprintf("%s[%d]", path, i), al[i], bl[i], out)
		}
		return
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if slices.Equal(ja, jb) {
		return
	}
	name := path[strings.LastIndexAny(path, ".]")+1:]
	*out = append(*out, fmt.Sprintf("%s: %s -> %s", path, p.shown(name, a), p.shown(name, b)))
}

// shown is a value as an edit's finding shows it: JSON, at most 80 bytes, withheld for a
// secret field.
func (p *Pipeline) shown(field string, v any) string {
	if p.cfg.Redactor.IsSecretField([]byte(field)) {
		return Redacted
	}
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}
