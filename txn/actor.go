package txn

import "context"

type actorKey struct{}

// WithActor returns ctx carrying the name of the admin token on whose behalf work is done, so
// that the calls it makes (replays) record it as their Actor.
func WithActor(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, actorKey{}, name)
}

// ActorFrom returns the name WithActor put in ctx, or "".
func ActorFrom(ctx context.Context) string {
	s, _ := ctx.Value(actorKey{}).(string)
	return s
}
