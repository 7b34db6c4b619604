-- The delivery queue (delivery.mode: queue, redeliver: auto): one row per queued call, its
-- state and attempts as stored JSON. owner is the instance that works it: the one that queued
-- it, or the one that claimed it when that instance's lease ran out.
CREATE TABLE deliveries (
    id    text PRIMARY KEY,
    route text NOT NULL,
    state text NOT NULL,
    owner text NOT NULL,
    body  json NOT NULL
);
CREATE INDEX deliveries_owner ON deliveries (owner, id);
