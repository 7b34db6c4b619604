package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mtguard/mtguard/vendors"
)

func TestCmdPresets(t *testing.T) {
	runCmd := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append([]string{"mtguard", "presets"}, args...), &out, &errOut, func(string) string { return "" })
		return out.String() + errOut.String(), err
	}
	out, err := runCmd()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range vendors.PresetNames() {
		if !strings.Contains(out, "\n"+name+" ") {
			t.Errorf("the list lacks %s:\n%s", name, out)
		}
	}
	if !strings.Contains(out, "100/20s, 50000/day (resets 00:00 America/Chicago), 10 at once") {
		t.Errorf("the list lacks Marketo's limits:\n%s", out)
	}
	out, err = runCmd("show", "marketo")
	src, _ := vendors.PresetSource("marketo")
	if err != nil || out != string(src) {
		t.Errorf("show marketo = %v, printed %d bytes; want the preset file (%d bytes)", err, len(out), len(src))
	}
	if _, err = runCmd("show", "nope"); err == nil || !strings.Contains(err.Error(), `unknown preset "nope"`) {
		t.Errorf("show nope = %v", err)
	}
	if _, err = runCmd("bogus"); !errors.Is(err, errUsage) {
		t.Errorf("presets bogus = %v, want a usage error", err)
	}
}
