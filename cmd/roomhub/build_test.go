package main

import (
	"bytes"
	"debug/elf"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeBuildIsStaticAndVersioned builds the binary the way operators do
// (make build) and checks it needs no C library at run time (no ELF
// interpreter, no shared libraries) and reports the version it was stamped
// with.
func TestMakeBuildIsStaticAndVersioned(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is not on PATH")
	}
	bin := filepath.Join(t.TempDir(), "roomhub")
	out, err := exec.Command("make", "-s", "-C", "../..", "build", "BIN="+bin, "VERSION=v0.0.0-buildtest").CombinedOutput()
	if err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary names a dynamic loader (PT_INTERP): it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	v, err := exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(v), "roomhub v0.0.0-buildtest go1.") {
		t.Fatalf("roomhub version: %q %v", v, err)
	}
}

// TestHelpNeverTouchesTheStore: asking any command for help prints the
// usage and exits 0, without opening (creating, migrating) a database or
// starting a server.
func TestHelpNeverTouchesTheStore(t *testing.T) {
	for _, args := range [][]string{
		{"org", "create", "--help"},
		{"user", "create", "--org", "acme", "-h"},
		{"sessions", "clear", "--help"},
		{"serve", "--help"},
		{"--help"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			data := t.TempDir()
			// No secrets: the old serve would refuse to start (exit 2);
			// DEBUG=true would have it serve for ever.
			env := envOf(map[string]string{"DATA_DIR": data, "ADDR": "127.0.0.1:0"})
			var stdout bytes.Buffer
			if code := run(args, env, &stdout, io.Discard); code != 0 || !strings.Contains(stdout.String(), "usage:") {
				t.Fatalf("exit %d, stdout %q", code, stdout.String())
			}
			if entries, _ := filepath.Glob(filepath.Join(data, "*")); len(entries) > 0 {
				t.Fatalf("help created %v", entries)
			}
		})
	}
}
