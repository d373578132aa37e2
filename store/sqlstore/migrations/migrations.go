// Package migrations holds Roomhub's database schema as ordered migration files,
// shared by every SQL store (SQLite, PostgreSQL).
//
// The files are written in the SQL both databases accept. The one construct
// they spell differently, the auto-increment primary key, is written as the
// AutoID placeholder, which the store replaces with its dialect's spelling
// before running a migration.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// AutoID is the placeholder for an auto-increment BIGINT primary key column
// definition, e.g. "id {{autoid}}".
const AutoID = "{{autoid}}"

//go:embed migrations/*.sql
var files embed.FS

// Migration is one schema change, applied once, in Version order.
type Migration struct {
	Version int    // from the file name's numeric prefix: 1 for 0001_init.sql
	Name    string // the rest of the file name: "init"
	SQL     string // the statements, still holding AutoID placeholders
}

// Migrations returns the embedded migrations in ascending Version order.
// It panics if a file name is malformed or a version repeats: both are
// build-time mistakes that the package tests catch.
func Migrations() []Migration {
	entries, err := fs.ReadDir(files, "migrations")
	if err != nil {
		panic(err)
	}
	var ms []Migration
	for _, e := range entries {
		m, err := parse(e.Name())
		if err != nil {
			panic(err)
		}
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			panic(fmt.Sprintf("migrations: migration version %d repeats", ms[i].Version))
		}
	}
	return ms
}

// parse reads migration file name ("0001_init.sql") and its contents.
func parse(name string) (Migration, error) {
	num, rest, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), "_")
	v, err := strconv.Atoi(num)
	if !ok || err != nil || v <= 0 || rest == "" {
		return Migration{}, fmt.Errorf("migrations: migration file %q is not named NNNN_name.sql", name)
	}
	b, err := files.ReadFile(path.Join("migrations", name))
	if err != nil {
		return Migration{}, err
	}
	return Migration{Version: v, Name: rest, SQL: string(b)}, nil
}
