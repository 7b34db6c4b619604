// Package pgtest holds what tests need to make PostgreSQL go away and come back without
// stopping the shared server: Gate, a TCP forwarder on loopback that can be cut and restored.
// Only tests import it; it imports nothing of mtguard's.
package pgtest
