package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRunServesOnLoopbackAndStops starts the fake stack on free ports, calls the fake CRM, a
// fake vendor and the alert printer over real loopback HTTP, then cancels and expects a clean
// return.
func TestRunServesOnLoopbackAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"fakestack", "--crm", "127.0.0.1:0", "--vendors", "127.0.0.1:0"}, pw, io.Discard)
		pw.CloseWithError(errors.New("run returned"))
		done <- err
	}()

	// Read the printed addresses, then keep draining stdout so that run never blocks on it.
	addr := regexp.MustCompile(`^(?:fake )?(CRM|vendors|    hubspot)\s+(http://127\.0\.0\.1:\d+)\b`)
	urls := map[string]string{}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var printed strings.Builder
	timeout := time.After(10 * time.Second)
	for len(urls) < 3 {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("stdout ended before both addresses were printed:\n%s\nrun: %v", printed.String(), <-done)
			}
			printed.WriteString(line + "\n")
			if m := addr.FindStringSubmatch(line); m != nil {
				urls[m[1]] = m[2]
			}
		case <-timeout:
			t.Fatalf("no addresses printed within 10s:\n%s", printed.String())
		}
	}
	var rest strings.Builder
	drained := make(chan struct{})
	go func() {
		for line := range lines {
			rest.WriteString(line + "\n")
		}
		close(drained)
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	call := func(method, url, ctype, body string, header map[string]string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if status, body := call("POST", urls["CRM"]+"/v1/leads", "application/json", `{"email":"ada@example.com","last_name":"Lovelace"}`, nil); status != http.StatusCreated {
		t.Errorf("fake CRM POST /v1/leads: %d %s, want 201", status, body)
	}
	// HubSpot on its own port, at the root as api.hubapi.com, and under /hubspot/ of --vendors.
	for i, base := range []string{urls["    hubspot"], urls["vendors"] + "/hubspot"} {
		contact := fmt.Sprintf(`{"properties":{"email":"lead%d@example.com"}}`, i)
		if status, body := call("POST", base+"/crm/v3/objects/contacts", "application/json", contact,
			map[string]string{"Authorization": "Bearer pat-demo"}); status != http.StatusCreated {
			t.Errorf("fake HubSpot create contact at %s: %d %s, want 201", base, status, body)
		}
	}
	if status, body := call("POST", urls["vendors"]+"/_alerts", "application/json", `{"text":"*crm: silence* (critical)"}`, nil); status != http.StatusOK {
		t.Errorf("POST /_alerts: %d %s, want 200", status, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return within 10s of cancel")
	}
	<-drained
	all := printed.String() + rest.String()
	// Ports other than the configs' defaults get a note saying which lines to change.
	for _, want := range []string{"examples/configs/hubspot-form.yaml", "Ctrl-C", `upstream: lines marked "fakestack"`} {
		if !strings.Contains(all, want) {
			t.Errorf("output does not mention %q:\n%s", want, all)
		}
	}
	if !strings.Contains(rest.String(), "alert received") || !strings.Contains(rest.String(), "crm: silence") {
		t.Errorf("the posted alert was not printed:\n%s", rest.String())
	}
	if !strings.Contains(rest.String(), "fakestack: stopping") {
		t.Errorf("no stopping line:\n%s", rest.String())
	}
}

func TestRunRefusesWhatItCannotServe(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--crm", "0.0.0.0:0"}, "only listens on loopback"},
		{[]string{"--vendors", "9100"}, "write host:port"},
		{[]string{"--vendors", "127.0.0.1:65530"}, "write host:port"}, // no room for the vendors' ports
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"--nope"}, "flag provided but not defined"},
	} {
		var stderr strings.Builder
		err := run(context.Background(), append([]string{"fakestack"}, tc.args...), io.Discard, &stderr)
		if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.want) {
			t.Errorf("run %v: err %v, stderr %q; want one mentioning %q", tc.args, err, stderr.String(), tc.want)
		}
	}
	if err := run(context.Background(), []string{"fakestack", "-h"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("run -h: %v, want flag.ErrHelp", err)
	}
}
