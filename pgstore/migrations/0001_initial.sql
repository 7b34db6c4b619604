-- mtguard's transaction log in PostgreSQL. One row per call: the request side (call) is
-- written before the call is forwarded; the result replaces NULL when the call ends.
CREATE TABLE calls (
    id          text        NOT NULL,
    time        timestamptz NOT NULL,
    route       text        NOT NULL,
    caller      text        NOT NULL DEFAULT '',
    record_keys text[]      NOT NULL DEFAULT '{}',
    replay_of   text        NOT NULL DEFAULT '',
    replayed_by text[]      NOT NULL DEFAULT '{}',
    -- the instance that recorded the intent: its pending calls become interrupted once its
    -- lease in instances runs out
    instance    text        NOT NULL DEFAULT '',
    call        json,
    result      json,
    outcome     text,
    status      integer     NOT NULL DEFAULT 0,
    findings    text[]      NOT NULL DEFAULT '{}',
    provisional json,
    PRIMARY KEY (time, id)
) PARTITION BY RANGE (time);

-- Calls outside every daily partition (older than the first, or copied from an old log)
-- land here; retention deletes them row by row.
CREATE TABLE calls_default PARTITION OF calls DEFAULT;

CREATE INDEX calls_id ON calls (id);
CREATE INDEX calls_route ON calls (route, id);
CREATE INDEX calls_outcome ON calls (outcome, id);
CREATE INDEX calls_pending ON calls (id) WHERE result IS NULL;
CREATE INDEX calls_record_keys ON calls USING gin (record_keys);
CREATE INDEX calls_findings ON calls USING gin (findings);

CREATE TABLE alerts (
    id    text PRIMARY KEY,
    route text NOT NULL,
    state text NOT NULL,
    body  json NOT NULL
);

CREATE TABLE audit (
    id   text PRIMARY KEY,
    time timestamptz NOT NULL,
    body json NOT NULL
);

CREATE TABLE replay_holds (
    root    text PRIMARY KEY,
    token   text NOT NULL,
    expires timestamptz NOT NULL,
    body    json NOT NULL
);

-- Every running mtguard, with the time its lease runs out (heartbeats extend it).
CREATE TABLE instances (
    id      text PRIMARY KEY,
    started timestamptz NOT NULL,
    expires timestamptz NOT NULL
);

-- Jobs that one instance runs for all (alert evaluation, retention): a lease per job.
CREATE TABLE leases (
    name    text PRIMARY KEY,
    holder  text NOT NULL,
    expires timestamptz NOT NULL
);
