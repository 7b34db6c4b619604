package schemas

import "regexp"

// GuessScanLimit bounds how much of an unparsable body GuessRecordKeys reads.
const GuessScanLimit = 64 << 10

// emailShape is an address as it appears in a payload: a local part, @, and a domain of at
// least two labels ending in letters. It is deliberately plain: a guess, not a validator.
var emailShape = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)

// GuessRecordKeys returns the email-shaped values in the first GuessScanLimit bytes of a body
// that could not be parsed, normalised like every record key (NormaliseKey) and de-duplicated
// in order of appearance; nil when there are none. It is the fallback that keeps a malformed
// payload findable by its lead: the caller marks such keys as guessed.
func GuessRecordKeys(raw []byte) []string {
	if len(raw) > GuessScanLimit {
		raw = raw[:GuessScanLimit]
	}
	var keys []string
	for _, m := range emailShape.FindAll(raw, -1) {
		k := NormaliseKey(string(m))
		if !containsString(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func containsString(ss []string, s string) bool {
	for _, have := range ss {
		if have == s {
			return true
		}
	}
	return false
}
