package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newStoreKey(t *testing.T, id string) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	return id + ":" + base64.StdEncoding.EncodeToString(b)
}

// TestStoreEncryptEndToEnd: with store.encrypt, a canary in a call's body, a header and the
// vendor's answer reaches the admin API in clear and is in none of the store's files.
func TestStoreEncryptEndToEnd(t *testing.T) {
	b := make([]byte, 6)
	rand.Read(b)
	canary := "plain" + hex.EncodeToString(b)
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"echo":` + string(body) + `}`))
	}))
	defer vendor.Close()
	cfg := "listen: 127.0.0.1:0\nadmin: {listen: 127.0.0.1:0}\nstore: {path: mtguard.db, encrypt: {key_env: STORE_KEYS}}\n" +
		"routes:\n  - {name: crm, prefix: /crm, upstream: " + vendor.URL + ", record_keys: [email]}\n"
	in := startMtguard(t, cfg, map[string]string{"STORE_KEYS": newStoreKey(t, "k1")})
	req, _ := http.NewRequest("POST", in.proxy+"/crm/leads", strings.NewReader(`{"email":"jane@acme.com","note":"`+canary+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Note", canary+"-header")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("X-Mtguard-Id")
	var got []byte
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r, err := http.Get(in.admin + "/api/transactions/" + id)
		if err != nil {
			t.Fatal(err)
		}
		got, _ = io.ReadAll(r.Body)
		r.Body.Close()
		if bytes.Contains(got, []byte(`"outcome":"delivered"`)) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{`"note":"` + canary, canary + "-header", `{"echo":`, "jane@acme.com"} {
		if !strings.Contains(strings.ReplaceAll(string(got), `\"`, `"`), want) {
			t.Errorf("the API does not show %q in clear: %s", want, got)
		}
	}
	in.stop()
	files, _ := filepath.Glob(in.storePath + "*")
	if len(files) == 0 {
		t.Fatal("no store files")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(canary)) {
			t.Errorf("%s holds the canary in clear", f)
		}
	}
}

// TestCheckConfigStoreKeys: a missing or malformed key is reported by check-config (and so
// refused by serve), naming the variable and never the key.
func TestCheckConfigStoreKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mtguard.yaml")
	if err := os.WriteFile(path, yamlLines(
		"store: {path: "+filepath.Join(dir, "mtguard.db")+", encrypt: {key_env: STORE_KEYS}}",
		"routes:",
		"  - {name: crm, prefix: /crm, upstream: http://127.0.0.1:9000}",
	), 0o600); err != nil {
		t.Fatal(err)
	}
	short := "k1:" + base64.StdEncoding.EncodeToString([]byte("sixteen-byte-key"))
	for _, tc := range []struct{ keys, want string }{
		{newStoreKey(t, "k2") + "," + newStoreKey(t, "k1"), ""},
		{"", "store.encrypt.key_env names STORE_KEYS, but that environment variable is empty"},
		{short, `store.encrypt.key_env: STORE_KEYS: key "k1" is 16 bytes; AES-256 needs 32`},
		{"c2l4dGVlbi1ieXRlLWtleQ==", "STORE_KEYS: key 1 has no id"},
	} {
		var out strings.Builder
		err := run(context.Background(), []string{"mtguard", "check-config", path}, &out, &out, func(k string) string {
			if k == "STORE_KEYS" {
				return tc.keys
			}
			return ""
		})
		switch {
		case tc.want == "" && (err != nil || !strings.Contains(out.String(), ": ok (")):
			t.Errorf("keys %q: %v\n%s", tc.keys, err, out.String())
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("keys %q: %v, want %q", tc.keys, err, tc.want)
		case tc.want != "" && strings.Contains(err.Error()+out.String(), "c2l4dGVlbi1ieXRl"):
			t.Errorf("the error shows the key: %v", err)
		}
	}
}
