// Package redislimit shares the limiter's budgets between several mtguard instances through
// Redis: the sliding windows, fixed windows (daily quotas), concurrency and pauses of each
// limit group are kept in Redis and changed only by Lua scripts, which Redis runs atomically,
// so the vendor sees the limits of one mtguard however many instances send.
//
// A call in flight holds a lease that expires: if its instance dies, its concurrency slot
// frees itself and its window entry ages out as if it had been answered at the lease's end.
// When Redis cannot be reached, each group falls back on OnUnavailable: LocalShare (every
// instance keeps 1/Instances of each budget in memory, and says so) or Hold (calls wait, up to
// their max_wait, until Redis answers again).
//
// The package imports none of mtguard's packages: the composition root turns the proxy's
// limit groups into Groups and plugs the Budget into the proxy's limiter.
package redislimit
