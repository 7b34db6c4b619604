package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// exampleConfigGlobs find the example configs: examples/demo.yaml, examples/configs/*.yaml
// and examples/<stack>/mtguard.yaml. Adding a config there adds it to the test.
var exampleConfigGlobs = []string{"examples/*.yaml", "examples/*/*.yaml"}

// TestExampleConfigs runs `mtguard check-config` on every example config, as a user would, and
// fails with check-config's output when it reports any mistake, including a "note:" about
// something serve would refuse (an empty variable, a missing forward-proxy CA) and a "warning:"
// about a pin that can never match.
func TestExampleConfigs(t *testing.T) {
	var files []string
	for _, g := range exampleConfigGlobs {
		m, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	// Guard against a glob that quietly stops matching: the demo and the stack configs exist.
	for _, want := range []string{"examples/demo.yaml", "examples/configs/hubspot-form.yaml", "examples/configs/forward-proxy.yaml"} {
		if !slices.Contains(files, filepath.FromSlash(want)) {
			t.Errorf("%s is not among the example configs found by %v: %v", want, exampleConfigGlobs, files)
		}
	}
	for _, path := range files {
		t.Run(filepath.ToSlash(path), func(t *testing.T) {
			if problems, output := checkExampleConfig(t, path); len(problems) > 0 {
				if output != "" {
					output = "\n\nit printed:\n" + output
				}
				t.Errorf("mtguard check-config %s reports:\n%s%s", path, strings.Join(problems, "\n"), output)
			}
		})
	}
}

// TestExampleConfigsCatchMistakes makes sure the check above fails on a broken config: a
// misspelt key, and a config whose variable the test environment does not supply.
func TestExampleConfigsCatchMistakes(t *testing.T) {
	good, err := os.ReadFile("examples/configs/hubspot-form.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(string) string{
		"unknown key": func(s string) string { return strings.Replace(s, "    upstream:", "    upstreem:", 1) },
		"bad duration": func(s string) string {
			return strings.Replace(s, "retention: 720h", "retention: 30 days", 1)
		},
	} {
		t.Run(name, func(t *testing.T) {
			broken := edit(string(good))
			if broken == string(good) {
				t.Fatal("the edit changed nothing; hubspot-form.yaml no longer has the line it breaks")
			}
			path := filepath.Join(t.TempDir(), "broken.yaml")
			if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
				t.Fatal(err)
			}
			if problems, output := checkExampleConfig(t, path); len(problems) == 0 {
				t.Errorf("a config with a %s passed:\n%s", name, output)
			}
		})
	}
}

// checkExampleConfig runs check-config on path with every variable the file names set, and
// returns what it found wrong and everything it printed. When the only note is the missing
// forward-proxy CA (which `mtguard ca init` creates next to the config, and which is not
// committed), it checks a copy of the config once more with a CA made by `mtguard ca init`.
func checkExampleConfig(t *testing.T, path string) (problems []string, output string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	getenv := exampleEnv(data)
	problems, output = runCheckConfig(path, getenv)
	if len(problems) != 1 || !strings.Contains(problems[0], "forward.ca:") {
		return problems, output
	}
	copyPath := copyBesideSiblings(t, path)
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"mtguard", "ca", "init", "--config", copyPath}, &stdout, &stderr, getenv); err != nil {
		return []string{"mtguard ca init --config on a copy: " + err.Error()}, output + stdout.String() + stderr.String()
	}
	problems, more := runCheckConfig(copyPath, getenv)
	return problems, output + "\n(with a CA from mtguard ca init, on a copy)\n" + more
}

// runCheckConfig runs `mtguard check-config path` and lists its error and its notes.
func runCheckConfig(path string, getenv func(string) string) (problems []string, output string) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"mtguard", "check-config", path}, &stdout, &stderr, getenv)
	output = stdout.String() + stderr.String()
	if err != nil {
		problems = append(problems, err.Error())
	}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(line, "note:") || strings.HasPrefix(line, "warning:") {
			problems = append(problems, line)
		}
	}
	if err == nil && !strings.Contains(stdout.String(), ": ok (") {
		problems = append(problems, "no ok line")
	}
	return problems, output
}

// envName finds the variables a config names: token_env, value_env, url_env, username_env...
var envName = regexp.MustCompile(`\b\w*_env:\s*["']?([A-Za-z_][A-Za-z0-9_]*)`)

// exampleEnv returns a getenv that sets every variable the config names, to a URL for names
// ending in _URL and to a placeholder otherwise, and leaves every other variable empty.
func exampleEnv(config []byte) func(string) string {
	env := map[string]string{}
	for _, m := range envName.FindAllSubmatch(config, -1) {
		name := string(m[1])
		env[name] = "example-" + strings.ToLower(name)
		if strings.HasSuffix(name, "_URL") {
			env[name] = "http://127.0.0.1:9/" + strings.ToLower(name)
		}
	}
	return func(name string) string { return env[name] }
}

// copyBesideSiblings copies the config at path into a temporary folder, with a symlink to every
// other file of its folder, so that paths relative to the config (contracts) still resolve
// and files written next to it (the CA) land in the temporary folder.
func copyBesideSiblings(t *testing.T, path string) string {
	t.Helper()
	dir := t.TempDir()
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if name := e.Name(); name != filepath.Base(path) && !strings.HasPrefix(name, "mtguard-ca") {
			if err := os.Symlink(filepath.Join(abs, name), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, filepath.Base(path))
	if err := os.WriteFile(out, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}
