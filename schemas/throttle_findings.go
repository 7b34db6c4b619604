package schemas

// CodeRateLimitThrottled is a call mtguard held back to stay within the vendor's limits.
const CodeRateLimitThrottled = "ratelimit.throttled"

// throttleFindings explain calls the throttler held back.
var throttleFindings = []FindingSpec{
	{CodeRateLimitThrottled, "warn", "mtguard held the call back: the vendor's budget was used up for longer than max_wait",
		"The payload is recorded: replay it once the budget is back (mtguard replay --outcome throttled). If this happens often, spread the sending tool's load or raise max_wait."},
}
