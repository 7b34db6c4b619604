-- Lighter writes per call (issue 24). A call's row is written three times: its intent, its
-- provisional result, its result. Every write that is not a HOT update adds an entry to
-- every index of the row, so each index costs three entries per call; these keep an entry
-- only where a query looks.

-- Pending calls have no outcome, and delivered is the usual one: Query reads those through
-- calls_id (newest first, filtered), and the other outcomes, rare, through this index.
DROP INDEX calls_outcome;
CREATE INDEX calls_outcome ON calls (outcome, id) WHERE outcome <> 'delivered';

-- Most calls carry no finding.
DROP INDEX calls_findings;
CREATE INDEX calls_findings ON calls USING gin (findings) WHERE findings <> '{}';

-- Free room in each page for the provisional result's new version of a row, so that it is a
-- HOT update (no index entry at all) written next to the old one. New partitions are created
-- with the same fillfactor (EnsurePartitions); this sets it for the existing ones (pages
-- already full keep their rows).
DO $$
DECLARE
    part regclass;
BEGIN
    FOR part IN
        SELECT c.oid::regclass FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        JOIN pg_namespace n ON n.oid = p.relnamespace
        WHERE p.relname = 'calls' AND n.nspname = current_schema()
    LOOP
        EXECUTE format('ALTER TABLE %s SET (fillfactor = 50)', part);
    END LOOP;
END
$$;
