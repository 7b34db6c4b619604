-- Placeholder on branch h24p only: version 0005 belongs to another branch (h24j: 0005, h24d:
-- 0006). Delete this file when that branch's migration 0005 is merged.
SELECT 1;
