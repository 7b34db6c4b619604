package drift

import (
	"testing"
	"time"
)

// BenchmarkCheck is the learner's own work for one call compared with a learned shape (parse
// the body, walk it, compare), without the channel and the store's write.
func BenchmarkCheck(b *testing.B) {
	l := New(Config{Learn: map[string]time.Duration{"form": time.Minute}})
	for i := range 100 {
		c := tx("form", t0.Add(time.Duration(i)*time.Millisecond), lead(i), i)
		l.Check(&c)
	}
	c := tx("form", t0.Add(time.Hour), lead(7), 1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l.Check(&c)
	}
}
