package store

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"time"
)

// crockford is Crockford's base32 alphabet: sortable as ASCII, no ambiguous letters.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// idLen is the length of a transaction id: 10 characters of milliseconds since the epoch, then
// 16 characters of a per-millisecond sequence that starts at a random value. Ids sort by time
// as plain strings, which is what makes bbolt's key order the log's time order.
const idLen = 26

// idGen issues strictly increasing ids, like a monotonic ULID.
type idGen struct {
	mu     sync.Mutex
	lastMS uint64
	seq    uint64 // low 80 bits are used; the top bits stay zero
	hi     uint16
}

func (g *idGen) next(t time.Time) string {
	ms := uint64(t.UnixMilli())
	g.mu.Lock()
	if ms <= g.lastMS {
		// Same millisecond (or a clock that went back): keep the last time and count up.
		ms = g.lastMS
		g.seq++
		if g.seq == 0 {
			g.hi++
		}
	} else {
		g.lastMS = ms
		g.hi = uint16(rand.Uint32() >> 17) // leave headroom so counting up never overflows
		g.seq = rand.Uint64()
	}
	hi, seq := g.hi, g.seq
	g.mu.Unlock()
	var b [16]byte
	binary.BigEndian.PutUint16(b[6:], hi)
	binary.BigEndian.PutUint64(b[8:], seq)
	binary.BigEndian.PutUint16(b[4:6], uint16(ms))
	binary.BigEndian.PutUint32(b[0:4], uint32(ms>>16))
	return encodeID(b)
}

// encodeID writes 128 bits as 26 base32 characters (the first holds 3 bits).
func encodeID(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [idLen]byte
	for i := idLen - 1; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// idAt returns the smallest id that can be issued at t, for seeking by time.
func idAt(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	binary.BigEndian.PutUint16(b[4:6], uint16(ms))
	binary.BigEndian.PutUint32(b[0:4], uint32(ms>>16))
	return encodeID(b)
}

// validID reports whether s has the shape of an id this store issues.
func validID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') || c == 'I' || c == 'L' || c == 'O' || c == 'U' {
			return false
		}
	}
	return true
}
