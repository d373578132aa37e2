package main

import (
	"strings"
	"testing"

	"roomhub/config"
)

// TestCLISetupLinkWhateverADDR: the setup link user create prints is a
// working URL for every form ADDR takes (it was "http://localhost127.0.0.1:18080").
func TestCLISetupLinkWhateverADDR(t *testing.T) {
	for addr, want := range map[string]string{
		"":                "http://localhost:8080",
		":8080":           "http://localhost:8080",
		"127.0.0.1:18080": "http://127.0.0.1:18080",
		"0.0.0.0:9000":    "http://localhost:9000",
		"[::1]:8080":      "http://[::1]:8080",
		"[::]:8080":       "http://localhost:8080",
		"meet.local:80":   "http://meet.local",
	} {
		if got := cliBase(config.Config{Addr: addr}); got != want {
			t.Errorf("ADDR=%q: %q, want %q", addr, got, want)
		}
	}
	if got := cliBase(config.Config{Addr: "127.0.0.1:18080", PublicURL: "https://meet.example.com/"}); got != "https://meet.example.com" {
		t.Errorf("with PUBLIC_URL: %q", got)
	}
}

// TestWarnsWithoutPublicURL: production without PUBLIC_URL says so at start.
func TestWarnsWithoutPublicURL(t *testing.T) {
	if w := startupWarnings(config.Config{}); len(w) != 1 || !strings.Contains(w[0], "PUBLIC_URL is unset") {
		t.Fatalf("warnings %q", w)
	}
	for _, c := range []config.Config{{PublicURL: "https://meet.example.com"}, {Debug: true}} {
		if w := startupWarnings(c); len(w) != 0 {
			t.Errorf("%+v: warnings %q", c, w)
		}
	}
}
