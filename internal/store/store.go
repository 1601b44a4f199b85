// Package store is banger's state: VM and image records in SQLite
// (modernc.org/sqlite, no cgo) with WAL and append-only embedded migrations.
// Every multi-row change runs in one transaction. The store knows nothing of
// VMMs or networking; it only keeps records and hands out guest addresses.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	_ "modernc.org/sqlite"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is an open state database.
type Store struct {
	db *sql.DB
}

// ErrNotFound is returned when no record matches a ref.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a unique name is already taken.
var ErrConflict = errors.New("already exists")

// AmbiguousError is returned when a ref prefix matches several records.
type AmbiguousError struct {
	Ref     string
	Matches []string // "name (id)"
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%q is ambiguous: it matches %s", e.Ref, strings.Join(e.Matches, ", "))
}

// Open opens (creating if needed) the database at path and migrates it.
func Open(ctx context.Context, path string) (*Store, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open state db %s: %w", path, err)
	}
	// One writer at a time keeps SQLite from returning SQLITE_BUSY under
	// concurrent VM operations; reads are fast enough through one conn.
	db.SetMaxOpenConns(1)
	s := &Store{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate state db %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// migrate applies embedded migrations in order. Migrations are append-only:
// never edit or remove a file once it has shipped.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		return err
	}
	entries, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(entries)
	for _, name := range entries {
		base := strings.TrimPrefix(name, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: bad version prefix", base)
		}
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return err
		}
		err = s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", base, err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version) VALUES (?)`, version)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// resolve implements ref resolution shared by VMs and images: exact name,
// exact id, then unique id prefix.
func resolve(ref string, candidates []refCandidate) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("empty ref: %w", ErrNotFound)
	}
	for _, c := range candidates {
		if c.name == ref {
			return c.id, nil
		}
	}
	for _, c := range candidates {
		if c.id == ref {
			return c.id, nil
		}
	}
	var matches []refCandidate
	for _, c := range candidates {
		if strings.HasPrefix(c.id, ref) {
			matches = append(matches, c)
		}
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("%q: %w", ref, ErrNotFound)
	case 1:
		return matches[0].id, nil
	}
	e := &AmbiguousError{Ref: ref}
	for _, m := range matches {
		e.Matches = append(e.Matches, fmt.Sprintf("%s (%s)", m.name, m.id))
	}
	return "", e
}

type refCandidate struct{ id, name string }
