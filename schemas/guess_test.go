package schemas

import (
	"slices"
	"strings"
	"testing"
)

func TestGuessRecordKeys(t *testing.T) {
	tests := []struct {
		raw  string
		want []string
	}{
		{`{"email":"Jane@Acme.com","x":`, []string{"jane@acme.com"}},
		{`email=bob%40acme.com&x`, nil}, // percent-encoded: not email-shaped as bytes
		{`{"a":"ann.lee+news@mail.example.co.uk.","b":"ANN.LEE+NEWS@mail.example.co.uk"`, []string{"ann.lee+news@mail.example.co.uk"}},
		{`{"email":"jane@","other":"@acme.com","n":"a@b"}`, nil},
		{`no address here`, nil},
	}
	for _, tt := range tests {
		if got := GuessRecordKeys([]byte(tt.raw)); !slices.Equal(got, tt.want) {
			t.Errorf("GuessRecordKeys(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
	// Only the first GuessScanLimit bytes are read.
	far := strings.Repeat(" ", GuessScanLimit) + `"late@acme.com"`
	if got := GuessRecordKeys([]byte(far)); len(got) != 0 {
		t.Errorf("an address past %d bytes was found: %q", GuessScanLimit, got)
	}
}
