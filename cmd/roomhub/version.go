package main

import (
	"runtime"
	"runtime/debug"
)

// version is set at link time by `make build` (-X main.version=...).
var version string

// buildVersion is the version this binary reports: the one stamped by the
// Makefile, else the module version Go records from the repository
// ("(devel)" outside one), else "dev".
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "dev"
}

// versionLine is what `roomhub version` prints.
func versionLine() string {
	return "roomhub " + buildVersion() + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}

// wantsHelp reports whether a command line asks for help anywhere in its
// flags, so that no command opens a store or starts a server to print it.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}
