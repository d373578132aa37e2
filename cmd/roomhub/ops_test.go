package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMetricsBindFailureIsFatal: a node whose metrics listener cannot bind
// would serve while Prometheus reports it down; it refuses to start and
// says why.
func TestMetricsBindFailureIsFatal(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = append(os.Environ(), "DEBUG=true", "ADDR="+freeAddr(t), "DATA_DIR="+t.TempDir(),
		"SECRET_KEY="+strongKey, "METRICS_ADDR="+taken.Addr().String())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Fatalf("exit: %v, want a failure\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "METRICS_ADDR") {
			t.Errorf("the failure does not name METRICS_ADDR:\n%s", out.String())
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the node kept running without its metrics listener\n%s", out.String())
	}
}
