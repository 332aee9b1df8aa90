// Package store persists alerts, incidents and their timelines in SQLite (the
// embedded default) or PostgreSQL (production), through one code path.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // registers the "postgres" driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations
var migrations embed.FS

// ErrNotFound is returned when a requested row does not exist.
var ErrNotFound = errors.New("not found")

// Backend names a database engine.
type Backend string

// Supported backends.
const (
	SQLite   Backend = "sqlite"
	Postgres Backend = "postgres"
)

// Options tune the connection pool.
type Options struct {
	MaxOpenConns int
	Logger       *slog.Logger
}

// Store is the database behind incidentd.
type Store struct {
	db       *sqlx.DB
	backend  Backend
	dsn      string // PostgreSQL's, for LISTEN connections
	migrator *goose.Provider
	log      *slog.Logger
	// forUpdate locks rows read in a write transaction on PostgreSQL; SQLite
	// has one writer at a time already (BEGIN IMMEDIATE). NO KEY UPDATE,
	// because no key ever changes: it does not block the KEY SHARE locks of
	// foreign-key checks, so a transaction holding the outbox lock and
	// inserting a row that references a locked incident cannot deadlock
	// with the transaction holding that incident and waiting for the
	// outbox lock.
	forUpdate string
	onCommit  atomic.Pointer[func()]
	// unnest caches PostgreSQL's array-parameter upserts (unnest.go).
	unnest sync.Map
}

// Open connects to dsn, applies pending migrations and returns the store.
// dsn is sqlite://PATH (relative or, with a third slash, absolute) or
// postgres://...
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 8
	}
	backend, driverDSN, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	s := &Store{backend: backend, log: opts.Logger}
	if backend == Postgres {
		s.dsn = dsn
	}
	var dialect goose.Dialect
	var gooseOpts []goose.ProviderOption
	switch backend {
	case SQLite:
		s.db, err = sqlx.Open("sqlite", driverDSN)
		dialect = goose.DialectSQLite3
	case Postgres:
		s.db, err = sqlx.Open("postgres", driverDSN)
		dialect = goose.DialectPostgres
		s.forUpdate = " FOR NO KEY UPDATE"
		// Replicas starting together: one migrates, the others wait,
		// looking every second for up to 5 minutes.
		locker, lerr := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if lerr != nil {
			return nil, lerr
		}
		gooseOpts = append(gooseOpts, goose.WithSessionLocker(locker))
	}
	if err != nil {
		return nil, err
	}
	s.db.SetMaxOpenConns(opts.MaxOpenConns)
	s.db.SetMaxIdleConns(opts.MaxOpenConns)
	s.db.SetConnMaxIdleTime(5 * time.Minute)
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("connect to %s store: %w", backend, err)
	}
	sub, err := fs.Sub(migrations, "migrations/"+string(backend))
	if err != nil {
		s.db.Close()
		return nil, err
	}
	s.migrator, err = goose.NewProvider(dialect, s.db.DB, sub, gooseOpts...)
	if err != nil {
		s.db.Close()
		return nil, err
	}
	results, err := s.migrator.Up(ctx)
	if err != nil {
		s.db.Close()
		return nil, fmt.Errorf("migrate %s store: %w", backend, err)
	}
	for _, r := range results {
		s.log.Info("applied migration", "version", r.Source.Version, "file", filepath.Base(r.Source.Path), "duration", r.Duration)
	}
	return s, nil
}

// parseDSN maps incidentd's DSN to a driver and its connection string.
func parseDSN(dsn string) (Backend, string, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		path, query, _ := strings.Cut(strings.TrimPrefix(dsn, "sqlite://"), "?")
		if path == "" {
			return "", "", fmt.Errorf("storage DSN %q names no file: want sqlite://data/incidentd.db or sqlite:///abs/path.db", dsn)
		}
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return "", "", fmt.Errorf("create directory for %s: %w", path, err)
			}
		}
		// WAL lets readers run beside the writer; synchronous=FULL makes a
		// commit durable before ingest answers 2xx; IMMEDIATE transactions
		// take the write lock up front so writers queue instead of failing.
		params := url.Values{}
		for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(ON)"} {
			params.Add("_pragma", p)
		}
		params.Set("_txlock", "immediate")
		extra, err := url.ParseQuery(query)
		if err != nil {
			return "", "", fmt.Errorf("storage DSN query: %w", err)
		}
		for k, vs := range extra {
			params[k] = append(params[k], vs...)
		}
		return SQLite, "file:" + path + "?" + params.Encode(), nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return Postgres, dsn, nil
	}
	return "", "", fmt.Errorf("storage DSN %q: want sqlite://PATH or postgres://...", Redact(dsn))
}

// Redact hides the password of a DSN, for logs and errors.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Backend tells which engine the store runs on.
func (s *Store) Backend() Backend { return s.backend }

// DB exposes the connection pool, for tests and tools.
func (s *Store) DB() *sqlx.DB { return s.db }

// Close closes the connection pool.
func (s *Store) Close() error {
	s.migrator.Close()
	return s.db.Close()
}

// Ready reports whether the store answers and its schema is current.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store unreachable: %w", err)
	}
	current, target, err := s.migrator.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current != target {
		return fmt.Errorf("schema at version %d, want %d", current, target)
	}
	return nil
}

// inTx runs fn in a transaction, committing if it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// in renders "column IN (values)" with one bound parameter: an array on
// PostgreSQL, a JSON array expanded by json_each on SQLite. One parameter
// keeps the statement text the same for any batch size.
func (s *Store) in(column string, values any) (string, any, error) {
	if s.backend == Postgres {
		switch v := values.(type) {
		case []string:
			return column + " = ANY(?)", stringArray(v), nil
		case []int64:
			return column + " = ANY(?)", int64Array(v), nil
		}
		return "", nil, fmt.Errorf("in: unsupported %T", values)
	}
	b, err := jsonMarshal(values)
	if err != nil {
		return "", nil, err
	}
	return column + " IN (SELECT value FROM json_each(?))", string(b), nil
}

func nullIfZero(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }
