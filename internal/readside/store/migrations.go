package store

import (
	"fmt"
	"io/fs"
)

// migrationsFS returns the embedded migrations. Numbers must have no gap:
// tern refuses one ("Missing migration 5"), so a change that adds a
// migration while another adds the number before it fails loudly until
// both are in, rather than recording a version a real migration then never
// runs under. (While migrations 005, 006 and 007 were written in parallel,
// their branches filled the gap with a placeholder; with all three merged
// it is gone.)
func migrationsFS() (fs.FS, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	return sub, nil
}
