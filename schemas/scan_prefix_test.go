package schemas

import (
	"slices"
	"testing"
)

func TestScanJSONPrefix(t *testing.T) {
	paths, err := ParseKeyPaths([]string{"email", "inputs[].email"})
	if err != nil {
		t.Fatal(err)
	}
	doc := `{"email":"Lead@Acme.com","inputs":[{"email":"a@acme.com"},{"email":"b@acme.com"}],"pad":"xxxx"}`
	for _, c := range []struct {
		cut  int
		want []string
	}{
		{len(doc), []string{"lead@acme.com", "a@acme.com", "b@acme.com"}},
		{len(`{"email":"Lead@Acme.com","inputs":[{"email":"a@acme.com"},{"email":"b@ac`), []string{"lead@acme.com", "a@acme.com"}}, // cut inside a value
		{len(`{"email":"Lead@Acme.com","inputs":[{"em`), []string{"lead@acme.com"}},
		{len(`{"email":"Lead@Ac`), []string{}},
		{0, []string{}},
	} {
		if got := ScanJSONPrefix([]byte(doc[:c.cut]), paths); !slices.Equal(got, c.want) {
			t.Errorf("cut at %d: keys %q, want %q", c.cut, got, c.want)
		}
	}
	if got := ScanJSONPrefix([]byte("not json"), paths); len(got) != 0 {
		t.Errorf("not JSON: keys %q", got)
	}
}
