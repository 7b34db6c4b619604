package pgstore

import (
	"context"
	"fmt"
	"regexp"
	"slices"
)

// createTable finds the tables a migration creates.
var createTable = regexp.MustCompile(`(?i)\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([a-z_][a-z0-9_]*)`)

// tableNames lists the tables the embedded migrations create, and schema_version: mtguard's
// tables, wherever the schema they share with others is.
func tableNames() ([]string, error) {
	ms, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	names := []string{"schema_version"}
	for _, m := range ms {
		for _, sub := range createTable.FindAllStringSubmatch(m.sql, -1) {
			if !slices.Contains(names, sub[1]) {
				names = append(names, sub[1])
			}
		}
	}
	return names, nil
}

// Size is how many bytes mtguard's tables take in the database, their indexes and TOAST data
// included: every day's partition of calls and the other tables, and nothing of another
// application's tables in the same schema.
func (s *Store) Size(ctx context.Context) (int64, error) {
	names, err := tableNames()
	if err != nil {
		return 0, fmt.Errorf("log size: %w", err)
	}
	var n int64
	err = s.pool.QueryRow(ctx, `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
		WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace
		AND (c.relname = ANY($1) OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'calls'::regclass))`, names).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("log size: %w", err)
	}
	return n, nil
}
