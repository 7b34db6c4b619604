package txn

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAppendJSONStringMatchesMarshal compares the appender with encoding/json on every byte
// value and on runs of plain text around it, at every offset of the four-byte skip.
func TestAppendJSONStringMatchesMarshal(t *testing.T) {
	var inputs []string
	for c := 0; c < 256; c++ {
		for pad := 0; pad < 9; pad++ {
			p := strings.Repeat("a", pad)
			inputs = append(inputs, p+string([]byte{byte(c)})+p, p+string([]byte{byte(c)}), string([]byte{byte(c)})+p)
		}
	}
	inputs = append(inputs, "", "é😀\u2028\u2029<>&", "\xff\xfe", "plain text of a message ", benchContact, "abc\xe2\x80", "\xe2\x80\xa8abcd")
	for _, in := range inputs {
		want, _ := json.Marshal(in)
		if got := AppendJSONString(nil, in); string(got) != string(want) {
			t.Fatalf("AppendJSONString(%q) = %s, json.Marshal: %s", in, got, want)
		}
	}
}
