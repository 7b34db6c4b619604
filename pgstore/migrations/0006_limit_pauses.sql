-- The limiter's long pauses (a quota the vendor says is spent, a rolling quota being probed one
-- call at a time), kept across restarts as the bbolt log keeps them: one row per limits group.
CREATE TABLE limit_pauses (
    grp     text PRIMARY KEY,
    until   timestamptz NOT NULL,
    reason  text NOT NULL,
    probing boolean NOT NULL DEFAULT false
);
