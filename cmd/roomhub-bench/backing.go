package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"
)

const defaultAdminDB = "postgres://roomhub:roomhub@127.0.0.1:5432/roomhub_test?sslmode=disable"

// prepareCluster gives a cluster run a clean Redis DB index and a fresh
// PostgreSQL database; the returned cleanup drops the database and flushes
// the index again.
func prepareCluster(ctx context.Context, o options) (backing, func(), error) {
	if err := flushRedis(ctx, o.redisURL); err != nil {
		return backing{}, nil, err
	}
	dbURL, drop, err := createDatabase(ctx, o.dbURL)
	if err != nil {
		return backing{}, nil, err
	}
	cleanup := func() {
		drop()
		flushRedis(context.Background(), o.redisURL)
	}
	return backing{redisURL: o.redisURL, dbURL: dbURL}, cleanup, nil
}

// flushRedis empties the URL's DB index, refusing index 0: that is where a
// real deployment's data would be.
func flushRedis(ctx context.Context, redisURL string) error {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return fmt.Errorf("-redis: %w", err)
	}
	if opt.DB == 0 {
		return errors.New("-redis must name a dedicated DB index other than 0 (it is flushed), e.g. redis://127.0.0.1:6379/15")
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("flush Redis DB %d: %w", opt.DB, err)
	}
	return nil
}

// createDatabase creates roomhub_bench_<random> next to the admin URL's
// database and returns its URL and a function that drops it.
func createDatabase(ctx context.Context, adminURL string) (string, func(), error) {
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		return "", nil, err
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b := make([]byte, 6)
	rand.Read(b)
	name := "roomhub_bench_" + hex.EncodeToString(b) // hex only: safe as an identifier
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database at %s: %w", redactURL(adminURL), err)
	}
	drop := func() {
		a, err := sql.Open("pgx", adminURL)
		if err != nil {
			return
		}
		defer a.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := a.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			logf("drop database %s: %v", name, err)
		}
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		drop()
		return "", nil, err
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// redactURL hides a URL's password in messages.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return "(unparsable URL)"
}
