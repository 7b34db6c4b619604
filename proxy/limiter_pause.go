package proxy

import "time"

// PausedUntil returns until when the vendor's signal pauses group name; zero when it does not.
func (l *Limiter) PausedUntil(name string) time.Time {
	g := l.groups[name]
	if g == nil {
		return time.Time{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.clock.Now().Before(g.paused) {
		return g.paused
	}
	return time.Time{}
}
