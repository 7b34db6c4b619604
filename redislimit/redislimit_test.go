package redislimit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mtguard/mtguard/redislimit"
)

// testRedis returns a client of the project machines' Redis (or MTGUARD_TEST_REDIS_URL) and a
// fresh key prefix, whose keys are deleted when the test ends. Without Redis the test is
// skipped, unless MTGUARD_TEST_SERVICES=1 makes it mandatory.
func testRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	url := os.Getenv("MTGUARD_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opts.DialTimeout = time.Second
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		rdb.Close()
		if os.Getenv("MTGUARD_TEST_SERVICES") == "1" {
			t.Fatalf("Redis is required (MTGUARD_TEST_SERVICES=1) but unreachable: %v", err)
		}
		t.Skipf("Redis is not reachable at %s (%v); set MTGUARD_TEST_SERVICES=1 to make this test mandatory", url, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "mtguard-test-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, prefix+":*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		rdb.Close()
	})
	return rdb, prefix
}

// instances returns n budgets over the same Redis keys: n mtguard instances.
func instances(t *testing.T, n int, g redislimit.Group) []*redislimit.Budget {
	rdb, prefix := testRedis(t)
	var out []*redislimit.Budget
	for i := range n {
		out = append(out, redislimit.New(rdb, []redislimit.Group{g}, redislimit.Options{Prefix: prefix, Instance: string(rune('a' + i)), Lease: time.Minute}))
	}
	return out
}

func TestSlidingWindowShared(t *testing.T) {
	bs := instances(t, 2, redislimit.Group{Name: "crm", Windows: []redislimit.Window{{Requests: 5, Per: time.Second}}})
	ctx := context.Background()
	t0 := time.Now().Truncate(time.Millisecond)
	var releases []func(time.Time)
	for i := range 5 {
		rel, _ := bs[i%2].Take(ctx, "crm", t0)
		if rel == nil {
			t.Fatalf("take %d refused within the budget", i)
		}
		releases = append(releases, rel)
	}
	if rel, at := bs[1].Take(ctx, "crm", t0); rel != nil || !at.IsZero() {
		t.Fatalf("a sixth call with five in flight: granted %v, retry at %v (want refused until one ends)", rel != nil, at)
	}
	answered := t0.Add(10 * time.Millisecond)
	for _, rel := range releases {
		rel(answered)
	}
	want := answered.Add(time.Second + redislimit.Margin(time.Second))
	if rel, at := bs[0].Take(ctx, "crm", t0.Add(20*time.Millisecond)); rel != nil || !at.Equal(want) {
		t.Fatalf("after five answers: granted %v, retry at %v, want %v", rel != nil, at, want)
	}
	if rel, _ := bs[1].Take(ctx, "crm", want); rel == nil {
		t.Fatal("refused once the window moved on")
	}
}

func TestConcurrencyLeaseExpires(t *testing.T) {
	bs := instances(t, 2, redislimit.Group{Name: "crm", Concurrency: 1})
	ctx := context.Background()
	t0 := time.Now().Truncate(time.Millisecond)
	if rel, _ := bs[0].Take(ctx, "crm", t0); rel == nil {
		t.Fatal("first call refused")
	}
	if rel, _ := bs[1].Take(ctx, "crm", t0.Add(time.Second)); rel != nil {
		t.Fatal("second call granted while the only slot is held")
	}
	// Instance a died holding the slot: its lease (a minute) frees it.
	if rel, _ := bs[1].Take(ctx, "crm", t0.Add(time.Minute+time.Millisecond)); rel == nil {
		t.Fatal("the dead instance's slot was not freed by its lease")
	}
}

func TestDailyQuotaShared(t *testing.T) {
	t0 := time.Now().Truncate(time.Millisecond)
	end := t0.Add(time.Hour)
	reset := func(t time.Time) time.Time {
		if t.Before(end) {
			return end
		}
		return end.Add(24 * time.Hour)
	}
	bs := instances(t, 3, redislimit.Group{Name: "mkto", Windows: []redislimit.Window{{Requests: 3, Per: 24 * time.Hour, Reset: reset}}})
	ctx := context.Background()
	for i := range 3 {
		rel, _ := bs[i].Take(ctx, "mkto", t0)
		if rel == nil {
			t.Fatalf("call %d refused within the quota", i)
		}
		rel(t0)
	}
	if rel, at := bs[0].Take(ctx, "mkto", t0.Add(time.Minute)); rel != nil || !at.Equal(end) {
		t.Fatalf("over the quota: granted %v, retry at %v, want %v", rel != nil, at, end)
	}
	if rel, _ := bs[2].Take(ctx, "mkto", end); rel == nil {
		t.Fatal("refused after the quota reset")
	}
}

func TestPauseShared(t *testing.T) {
	bs := instances(t, 2, redislimit.Group{Name: "hs", Windows: []redislimit.Window{{Requests: 100, Per: 10 * time.Second}}})
	ctx := context.Background()
	t0 := time.Now().Truncate(time.Millisecond)
	until := t0.Add(5 * time.Second)
	bs[0].Pause("hs", until, t0)
	bs[0].Pause("hs", t0.Add(time.Second), t0) // a shorter pause does not shorten it
	if rel, at := bs[1].Take(ctx, "hs", t0.Add(time.Second)); rel != nil || !at.Equal(until) {
		t.Fatalf("while paused by another instance: granted %v, retry at %v, want %v", rel != nil, at, until)
	}
	if rel, _ := bs[1].Take(ctx, "hs", until); rel == nil {
		t.Fatal("refused after the pause")
	}
}

func TestUnavailable(t *testing.T) {
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer down.Close()
	g := redislimit.Group{Name: "crm", Windows: []redislimit.Window{{Requests: 6, Per: time.Minute}}, Concurrency: 30}
	ctx := context.Background()
	t0 := time.Now()
	for _, tc := range []struct {
		mode    redislimit.Mode
		granted int
		desc    string
	}{
		{redislimit.LocalShare, 2, "local-share 1/3 (Redis unavailable since"},
		{redislimit.Hold, 0, "hold (Redis unavailable since"},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			var heard []error
			b := redislimit.New(down, []redislimit.Group{g}, redislimit.Options{OnUnavailable: tc.mode, Instances: 3, OnChange: func(err error) { heard = append(heard, err) }})
			granted := 0
			for range 5 {
				if rel, _ := b.Take(ctx, "crm", t0); rel != nil {
					granted++
				}
			}
			if granted != tc.granted {
				t.Fatalf("granted %d calls of a 6-call window shared by 3 instances, want %d", granted, tc.granted)
			}
			if m := b.Mode("crm"); !strings.HasPrefix(m, tc.desc) {
				t.Fatalf("mode %q, want %q...", m, tc.desc)
			}
			if len(heard) != 1 || heard[0] == nil {
				t.Fatalf("OnChange heard %v, want one error", heard)
			}
		})
	}
}
