-- Drills (mtguard drill start): one row per drill, its state and report as stored JSON.
CREATE TABLE drills (
    id    text PRIMARY KEY,
    state text NOT NULL,
    body  json NOT NULL
);
