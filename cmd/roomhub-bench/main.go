// Command roomhub-bench is Roomhub's load harness. It starts Roomhub nodes
// as real processes, connects many WebSocket members to them over loopback,
// measures memory per member, join-to-visible latency and the server CPU
// spent per delivered event, stops the nodes and prints one line of JSON.
//
//	roomhub-bench -nodes 1 -members 10000 -rooms 50
//	roomhub-bench -nodes 3 -members 5000 -redis redis://127.0.0.1:6379/15 \
//	    -db postgres://roomhub:roomhub@127.0.0.1:5432/roomhub_test?sslmode=disable
//
// The load generator runs on the same machine as the nodes, so its own CPU
// competes with theirs; the CPU figures are the nodes' alone (from /proc).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// options are the command's flags.
type options struct {
	bin         string
	nodes       int
	members     int
	rooms       int
	samples     int
	events      time.Duration
	signalRate  float64
	redisURL    string
	dbURL       string
	concurrency int
	timeout     time.Duration
	env         []string // extra node environment, after the defaults
	soak        soakOptions
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/roomhub", "path of the roomhub binary to run")
	flag.IntVar(&o.nodes, "nodes", 1, "number of nodes (1: SQLite and in-process bus; more: needs -redis and -db)")
	flag.IntVar(&o.members, "members", 5000, "WebSocket members to connect")
	flag.IntVar(&o.rooms, "rooms", 50, "rooms the members are spread over")
	flag.IntVar(&o.samples, "samples", 200, "join-to-visible samples")
	flag.DurationVar(&o.events, "events", 10*time.Second, "duration of the event phase")
	flag.Float64Var(&o.signalRate, "signal-rate", 5, "signals per room per second in the event phase")
	flag.StringVar(&o.redisURL, "redis", "", "Redis URL for a cluster; its DB index is flushed, so it must not be 0 (e.g. redis://127.0.0.1:6379/15)")
	flag.StringVar(&o.dbURL, "db", defaultAdminDB, "PostgreSQL admin URL for a cluster: a fresh database is created there and dropped at the end")
	flag.IntVar(&o.concurrency, "concurrency", 64, "members connecting at a time")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "hard deadline for the whole run")
	flag.DurationVar(&o.soak.duration, "soak", 0, "instead of the benchmark, churn participants through one node for this long (see soak.go)")
	flag.IntVar(&o.soak.cycles, "soak-cycles", 0, "with -soak: stop after this many join/leave cycles (0: run for the whole -soak duration)")
	flag.IntVar(&o.soak.workers, "soak-workers", 8, "with -soak: participants churning at once")
	flag.DurationVar(&o.soak.idle, "soak-idle", 150*time.Second, "with -soak: how long the node rests before the final measurement (past two rate-limit windows, so per-address counters have gone)")
	flag.DurationVar(&o.soak.every, "soak-report", 10*time.Second, "with -soak: progress line period")
	flag.Parse()
	return o
}

func (o options) validate() error {
	switch {
	case o.nodes < 1 || o.members < 1 || o.rooms < 1 || o.samples < 0 || o.concurrency < 1:
		return errors.New("-nodes, -members, -rooms and -concurrency must be positive, -samples not negative")
	case o.members < o.rooms:
		return errors.New("-members must be at least -rooms")
	case o.signalRate <= 0 || o.events <= 0:
		return errors.New("-signal-rate and -events must be positive")
	case o.nodes > 1 && (o.redisURL == "" || o.dbURL == ""):
		return errors.New("-nodes > 1 needs -redis and -db")
	}
	return nil
}

func main() {
	o := parseFlags()
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "roomhub-bench:", err)
		os.Exit(2)
	}
	raiseFileLimit()
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	if o.soak.enabled() {
		// The churn, a rest before it and one after, and time to spare.
		if need := o.soak.duration + 2*o.soak.idle + 5*time.Minute; o.soak.duration > 0 && o.timeout < need {
			ctx, cancel = context.WithTimeout(context.Background(), need)
			defer cancel()
			ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
		}
		res, err := soak(ctx, o, os.Stderr)
		if res != nil {
			line, _ := json.Marshal(res)
			fmt.Println(string(line))
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "roomhub-bench:", err)
			os.Exit(1)
		}
		return
	}
	res, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "roomhub-bench:", err)
		os.Exit(1)
	}
	line, _ := json.Marshal(res)
	fmt.Println(string(line))
}

// raiseFileLimit lifts the open-file limit to its hard maximum: every member
// is a socket here and in a node, and the nodes inherit the limit.
func raiseFileLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		fmt.Fprintln(os.Stderr, "roomhub-bench: raising the file limit:", err)
	}
}

// logf reports progress on stderr, so stdout carries the JSON line alone.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "roomhub-bench: "+format+"\n", args...)
}
