package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// buildRoomhub builds the roomhub binary the soak runs, as `make build` does.
func buildRoomhub(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "roomhub")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "../roomhub")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestSoak churns a few thousand participants through one node, mixing
// every way of leaving, on the embedded default and on PostgreSQL + Redis,
// and fails unless the node's descriptors, goroutines, live heap and Redis
// room keys return to where they started. `make soak` runs the same for
// half an hour.
func TestSoak(t *testing.T) {
	bin := buildRoomhub(t)
	raiseFileLimit()
	for _, tc := range []struct{ name, redis string }{
		{"embedded", ""},
		{"postgres+redis", soakRedisURL()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := options{bin: bin, nodes: 1, members: 1, rooms: 1, concurrency: 1, redisURL: tc.redis, dbURL: soakAdminDB(),
				soak: soakOptions{cycles: 2000, workers: 8, idle: 5 * time.Second, every: 5 * time.Second}}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var progress bytes.Buffer
			res, err := soak(ctx, o, &progress)
			t.Log("\n" + progress.String())
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range leaveModes {
				if res.ByMode[m] < 400 {
					t.Errorf("only %d cycles left by %s: %v", res.ByMode[m], m, res.ByMode)
				}
			}
		})
	}
}

func soakRedisURL() string {
	if u := os.Getenv("ROOMHUB_SOAK_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/13" // flushed by the soak: never index 0
}

func soakAdminDB() string {
	if u := os.Getenv("ROOMHUB_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return defaultAdminDB
}
