package store

import (
	"fmt"
	"io/fs"
	"strconv"
	"testing/fstest"

	"github.com/jackc/tern/v2/migrate"
)

// migrationsFS returns the embedded migrations with an empty placeholder
// for every number that has no file. tern refuses a gap ("Missing
// migration 5"), and migrations are numbered by the change that adds them,
// which may be merged after a later number: 006_watchlists.sql was written
// while 005 was being written elsewhere. With the gap filled a build
// without 005 works; once the real 005 is merged there is no gap and no
// placeholder. A database migrated past a placeholder by such a build
// records the version and would not run the real 005 later: only
// throwaway (test, development) databases should meet such a build.
func migrationsFS() (fs.FS, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	out := fstest.MapFS{}
	highest := 0
	have := map[int]bool{}
	err = fs.WalkDir(sub, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, path)
		if err != nil {
			return err
		}
		out[path] = &fstest.MapFile{Data: b, Mode: 0o444}
		if n, ok := migrationNumber(path); ok {
			have[n] = true
			highest = max(highest, n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	for n := 1; n < highest; n++ {
		if !have[n] {
			out[fmt.Sprintf("%03d_reserved.sql", n)] = &fstest.MapFile{
				Data: []byte("-- placeholder: this build has no migration " + strconv.Itoa(n) + " (see migrationsFS)\nSELECT 1;\n\n---- create above / drop below ----\n\nSELECT 1;\n"),
				Mode: 0o444,
			}
		}
	}
	if _, err := migrate.FindMigrations(out); err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	return out, nil
}

// migrationNumber parses the leading number of a migration file name.
func migrationNumber(name string) (int, bool) {
	i := 0
	for i < len(name) && name[i] >= '0' && name[i] <= '9' {
		i++
	}
	if i == 0 || i >= len(name) || name[i] != '_' {
		return 0, false
	}
	n, err := strconv.Atoi(name[:i])
	return n, err == nil
}
