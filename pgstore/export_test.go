package pgstore

// Crash stops s as kill -9 would: its lease is no longer renewed, its pending calls stay
// pending, nothing is flushed or given up.
func Crash(s *Store) {
	s.crashed.Store(true)
	s.Close()
}

// CrashSpooled stops s as kill -9 would: the spool keeps what it holds, nothing is drained,
// flushed or given up.
func CrashSpooled(s *Spooled) {
	s.stop()
	<-s.done
	Crash(s.Store)
	s.db.Close()
}

// MigrationCount is how many migrations the binary embeds.
func MigrationCount() int {
	ms, _ := loadMigrations()
	return len(ms)
}
