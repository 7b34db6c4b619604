-- Notification attempts (alerts sent to sinks, issue 23): one row per attempt, its JSON as
-- stored; ids are time-ordered, so the id order is the order of the attempts.
CREATE TABLE notifications (
    id    text PRIMARY KEY,
    alert text NOT NULL,
    sink  text NOT NULL,
    body  json NOT NULL
);
CREATE INDEX notifications_alert ON notifications (alert, id);
