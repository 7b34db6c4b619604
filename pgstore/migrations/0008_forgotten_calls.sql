-- Calls forgotten while they were in flight (issue 24: forget leaves no copy). Forget deletes
-- a pending call's row, but its vendor's answer may still arrive and be written as a new row
-- holding the answer (without the request). The ids listed here are swept by every instance's
-- lease loop; the list holds ids and times only, never a record key or a body.
CREATE TABLE forgotten_calls (
    id        text PRIMARY KEY,
    time      timestamptz NOT NULL,
    forgotten timestamptz NOT NULL DEFAULT now()
);
