package client

import "testing"

// TestParseStatusFilter: the CLI refuses with it what the server would refuse, before asking.
func TestParseStatusFilter(t *testing.T) {
	for _, tt := range []struct {
		in          string
		code, class int
		ok          bool
	}{
		{"502", 502, 0, true},
		{" 404 ", 404, 0, true},
		{"4xx", 0, 4, true},
		{"5XX", 0, 5, true},
		{"1xx", 0, 1, true},
		{"6xx", 0, 0, false},
		{"0xx", 0, 0, false},
		{"99", 0, 0, false},
		{"600", 0, 0, false},
		{"4", 0, 0, false},
		{"fail", 0, 0, false},
		{"", 0, 0, false},
	} {
		code, class, ok := ParseStatusFilter(tt.in)
		if code != tt.code || class != tt.class || ok != tt.ok {
			t.Errorf("ParseStatusFilter(%q) = %d, %d, %v; want %d, %d, %v", tt.in, code, class, ok, tt.code, tt.class, tt.ok)
		}
	}
}
