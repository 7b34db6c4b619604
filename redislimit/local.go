package redislimit

import (
	"sync"
	"time"
)

// localGroup is a group's budget kept in memory while Redis is away: 1/instances of each
// window and of the concurrency, at least one, so that together the instances stay within
// the vendor's limit.
type localGroup struct {
	mu       sync.Mutex
	conc     int
	inflight int
	sliding  []localWindow
	fixed    []localFixed
	paused   time.Time
}

type localWindow struct {
	requests int
	span     time.Duration
	answers  []time.Time // answer times within span, oldest first
}

type localFixed struct {
	requests int
	reset    func(time.Time) time.Time
	end      time.Time
	count    int
}

func share(n, instances int) int { return max(1, n/instances) }

func newLocalGroup(g Group, instances int) *localGroup {
	lg := &localGroup{}
	if g.Concurrency > 0 {
		lg.conc = share(g.Concurrency, instances)
	}
	for _, w := range g.Windows {
		if w.Reset == nil {
			lg.sliding = append(lg.sliding, localWindow{requests: share(w.Requests, instances), span: w.Per + Margin(w.Per)})
		} else {
			lg.fixed = append(lg.fixed, localFixed{requests: share(w.Requests, instances), reset: w.Reset})
		}
	}
	return lg
}

func (lg *localGroup) take(now time.Time) (func(time.Time), time.Time) {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	retry, blocked := now, false
	if now.Before(lg.paused) {
		retry, blocked = lg.paused, true
	}
	if lg.conc > 0 && lg.inflight >= lg.conc {
		return nil, time.Time{}
	}
	for i := range lg.sliding {
		w := &lg.sliding[i]
		for len(w.answers) > 0 && !w.answers[0].Add(w.span).After(now) {
			w.answers = w.answers[1:]
		}
		if used := lg.inflight + len(w.answers); used >= w.requests {
			blocked = true
			if k := used - w.requests; k < len(w.answers) {
				if at := w.answers[k].Add(w.span); at.After(retry) {
					retry = at
				}
			} else {
				return nil, time.Time{} // only an answer frees room
			}
		}
	}
	for i := range lg.fixed {
		f := &lg.fixed[i]
		if !now.Before(f.end) {
			f.end, f.count = f.reset(now), 0
		}
		if f.count >= f.requests {
			blocked = true
			if f.end.After(retry) {
				retry = f.end
			}
		}
	}
	if blocked {
		return nil, retry
	}
	lg.inflight++
	for i := range lg.fixed {
		lg.fixed[i].count++
	}
	var once sync.Once
	return func(at time.Time) {
		once.Do(func() {
			lg.mu.Lock()
			defer lg.mu.Unlock()
			lg.inflight--
			for i := range lg.sliding {
				lg.sliding[i].answers = append(lg.sliding[i].answers, at)
			}
		})
	}, time.Time{}
}

func (lg *localGroup) pauseUntil(until time.Time) {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	if until.After(lg.paused) {
		lg.paused = until
	}
}
