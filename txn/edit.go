package txn

import "context"

type editKey struct{}

// WithEdit marks a replay as edit-then-replay: orig is the stored body the person corrected,
// so that the pipeline can record what changed (finding replay.edited).
func WithEdit(ctx context.Context, orig string) context.Context {
	return context.WithValue(ctx, editKey{}, orig)
}

// EditFrom returns the body WithEdit put in ctx.
func EditFrom(ctx context.Context) (orig string, ok bool) {
	orig, ok = ctx.Value(editKey{}).(string)
	return orig, ok
}
