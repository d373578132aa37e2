package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"roomhub/store/sqlstore/migrations"
)

// createMigrationsTable runs inside every migration transaction, after the
// dialect's lock, so that two nodes starting on an empty database do not race
// to create it.
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    applied_at BIGINT NOT NULL
)`

// migrate applies the migrations not yet recorded in schema_migrations, in
// order, each in its own transaction: a failing migration leaves the schema
// at the previous version rather than half-changed.
func migrate(ctx context.Context, db *sql.DB, d Dialect, ms []migrations.Migration, now time.Time) error {
	for _, m := range ms {
		if err := applyMigration(ctx, db, d, m, now); err != nil {
			return fmt.Errorf("migration %04d_%s: %w", m.Version, m.Name, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, d Dialect, m migrations.Migration, now time.Time) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // no-op after Commit
	if d.migrationLock != "" {
		if _, err := tx.ExecContext(ctx, d.migrationLock); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
		return err
	}
	var applied int
	err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&applied)
	if err != nil || applied > 0 {
		return err
	}
	if _, err := tx.ExecContext(ctx, d.render(m.SQL)); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, m.Version, now.UnixMilli())
	if err != nil {
		return err
	}
	return tx.Commit()
}

// schemaVersion returns the highest applied migration, 0 for none.
func schemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var v int
	err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
