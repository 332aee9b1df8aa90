// Package storetest opens real stores for tests: a fresh SQLite file, and a
// fresh PostgreSQL schema when INCIDENTD_TEST_POSTGRES_DSN is set.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/incidentd/incidentd/store"
)

// EnvPostgresDSN names the environment variable with the PostgreSQL DSN.
const EnvPostgresDSN = "INCIDENTD_TEST_POSTGRES_DSN"

// Backends lists the backends to test: SQLite always, PostgreSQL when its
// DSN is given.
func Backends() []store.Backend {
	if os.Getenv(EnvPostgresDSN) == "" {
		return []store.Backend{store.SQLite}
	}
	return []store.Backend{store.SQLite, store.Postgres}
}

// Each runs fn as a subtest once per backend.
func Each(t *testing.T, fn func(t *testing.T, b store.Backend)) {
	t.Helper()
	if os.Getenv(EnvPostgresDSN) == "" {
		t.Logf("%s not set: PostgreSQL subtests skipped", EnvPostgresDSN)
	}
	for _, b := range Backends() {
		t.Run(string(b), func(t *testing.T) { fn(t, b) })
	}
}

// DSN returns a DSN for a new, empty database of backend b, removed when the
// test ends: a SQLite file in a temp dir, or a PostgreSQL schema of its own.
func DSN(t testing.TB, b store.Backend) string {
	t.Helper()
	if b == store.SQLite {
		return "sqlite://" + filepath.Join(t.TempDir(), "incidentd.db")
	}
	admin := os.Getenv(EnvPostgresDSN)
	if admin == "" {
		t.Skipf("%s not set", EnvPostgresDSN)
	}
	var buf [6]byte
	rand.Read(buf[:])
	schema := "test_" + hex.EncodeToString(buf[:])
	db, err := sql.Open("postgres", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("postgres", admin)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	sep := "?"
	if strings.Contains(admin, "?") {
		sep = "&"
	}
	return admin + sep + "search_path=" + schema
}

// Open opens a migrated store on a fresh database of backend b.
func Open(t testing.TB, b store.Backend) *store.Store {
	t.Helper()
	// One connection on SQLite: code that waits for a second connection
	// while it holds a write transaction hangs here at once, instead of
	// only when a loaded daemon's pool is full of writers waiting for that
	// transaction's lock (seen as SQLITE_BUSY storms under load).
	opts := store.Options{}
	if b == store.SQLite {
		opts.MaxOpenConns = 1
	}
	s, err := store.Open(context.Background(), DSN(t, b), opts)
	if err != nil {
		t.Fatalf("open %s store: %v", b, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
