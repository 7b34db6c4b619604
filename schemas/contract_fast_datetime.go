package schemas

// Nearly every vendor writes its timestamps one way (2025-06-02T09:14:07.052Z), and a
// contact's answer holds four of them: the date-time format's own function (jsonschema's, via
// time.Parse, strings.SplitN and strconv) was a tenth of the response contract's fast path.
// plainDateTime accepts that one shape, checked to the day; anything else still goes to the
// format's function, which alone decides what is invalid.

// plainDateTime reports whether b is an RFC 3339 date-time of the form
// YYYY-MM-DDTHH:MM:SS[.fraction]Z with a real calendar date and seconds below 60: a subset of
// what the date-time format accepts (TestPlainDateTimeIsSubsetOfFormat).
func plainDateTime(b []byte) bool {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't') || b[13] != ':' || b[16] != ':' {
		return false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	hour, minute, sec := num(11, 2), num(14, 2), num(17, 2)
	if year < 0 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return false
	}
	rest := b[19:]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 {
			return false
		}
		rest = rest[n:]
	}
	return len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z')
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
