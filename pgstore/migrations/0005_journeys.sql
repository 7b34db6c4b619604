-- State learned across calls (journeys, drift), kept for whichever instance runs them, and
-- the feed of committed calls that instance reads (issue 24).

-- The records in flight on a journey: key is "<journey>\0<record key>" (bytes: it holds a NUL),
-- body is the journeys engine's encoding.
CREATE TABLE journeys (
    key  bytea PRIMARY KEY,
    body bytea NOT NULL
);

-- Each route's learned payload shape, in the drift learner's encoding.
CREATE TABLE shapes (
    route text PRIMARY KEY,
    body  bytea NOT NULL
);

-- Records erased (mtguard forget) while an instance may hold them in memory: a hash of the
-- record key, never the key, until the instance running journeys has dropped them.
CREATE TABLE journey_forgets (
    note text PRIMARY KEY,
    at   timestamptz NOT NULL DEFAULT now()
);

-- How far each job's feed has read: the position of the last call it handled.
CREATE TABLE feed_cursors (
    job text   PRIMARY KEY,
    xid bigint NOT NULL,
    id  text   NOT NULL
);

-- done_xid is the transaction that gave a call its result (or a new outcome). A reader that
-- takes only rows whose done_xid is below its snapshot's xmin (every transaction below it has
-- ended) and moves past them never skips a call committed late by a slower transaction.
ALTER TABLE calls ADD COLUMN done_xid bigint;

CREATE FUNCTION calls_mark_done() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.done_xid := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END
$$;

CREATE TRIGGER calls_done_insert BEFORE INSERT ON calls FOR EACH ROW
    WHEN (NEW.result IS NOT NULL) EXECUTE FUNCTION calls_mark_done();
CREATE TRIGGER calls_done_update BEFORE UPDATE ON calls FOR EACH ROW
    WHEN (NEW.result IS NOT NULL AND OLD.outcome IS DISTINCT FROM NEW.outcome) EXECUTE FUNCTION calls_mark_done();

CREATE INDEX calls_done ON calls (done_xid, id) WHERE done_xid IS NOT NULL;
