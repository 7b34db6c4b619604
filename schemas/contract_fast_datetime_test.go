package schemas

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestPlainDateTimeIsSubsetOfFormat holds the shortcut to the format it stands in for: every
// string plainDateTime accepts, the date-time format accepts too (the reverse need not hold:
// offsets, leap seconds and the rest go to the format's function). The strings are the usual
// shapes, every one-character change of them, and random dates around the month ends.
func TestPlainDateTimeIsSubsetOfFormat(t *testing.T) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("dt.json", map[string]any{"type": "string", "format": "date-time"}); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("dt.json")
	if err != nil {
		t.Fatal(err)
	}
	format := sch.Format
	if format == nil || format.Name != "date-time" {
		t.Fatalf("format = %#v", format)
	}
	check := func(s string) {
		t.Helper()
		if plainDateTime([]byte(s)) && format.Validate(s) != nil {
			t.Errorf("%q: plainDateTime accepts it, the format refuses it: %v", s, format.Validate(s))
		}
	}
	bases := []string{
		"2025-06-02T09:14:07.052Z", "2025-06-02T09:14:07Z", "2024-02-29t23:59:59.999999999z",
		"2023-02-28T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.1Z",
	}
	for _, b := range bases {
		if !plainDateTime([]byte(b)) {
			t.Errorf("%q: the usual shape is not taken", b)
		}
		check(b)
		for i := 0; i <= len(b); i++ {
			check(b[:i])
			for _, c := range "0123456789-:.TtZz+ x\x00é" {
				if i < len(b) {
					check(b[:i] + string(c) + b[i+1:])
				}
				check(b[:i] + string(c) + b[i:])
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		s := fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d", rng.IntN(10000), rng.IntN(14), 26+rng.IntN(7), rng.IntN(26), rng.IntN(62), rng.IntN(62))
		switch rng.IntN(3) {
		case 0:
			s += "Z"
		case 1:
			s += fmt.Sprintf(".%dZ", rng.IntN(1000))
		default:
			s += "+01:00"
		}
		check(s)
	}
}
