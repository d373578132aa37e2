package ui_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"roomhub"
	"roomhub/ui"
)

// TestLobbyNameRuleIsTheServers: the lobby checks a name in the browser
// with the rule the server applies (roomhub.NormalizeName), so what it
// accepts the server accepts, normalised the same way, and what it refuses
// it refuses with the server's message. Run in Chromium on the shipped
// common.js.
func TestLobbyNameRuleIsTheServers(t *testing.T) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed; run `make test-deps` (Debian package chromium)")
	}
	u, err := ui.New()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/static/", u.Static())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><meta charset="utf-8"><title>names</title><script src="/static/js/common.js"></script>`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("no-first-run", true))
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 30*time.Second)
	defer cancelTimeout()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitReady("body")); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	cases := []string{
		"Ada", "  Ada   Lovelace  ", "José Müller", "Jose\u0301", "李雷", "O'Brien", "O\u2019Brien", "Dr. Smith",
		"Αλέξης", "محمد", "a_b-c 9", "A", "..", "-'-", "<b>", "a&b", `a"b`, "a\u00a0b",
		"Eve\u202eevil", "Eve\u2066x", "Ad\u200ba", "Ad\u200da", "\ufeffAda", "Ada\x7f", "Ada\u0000x",
		strings.Repeat("李", 100), strings.Repeat("李", 101), strings.Repeat("n", 401), "",
	}
	for _, in := range cases {
		arg, _ := json.Marshal(in)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[nameResult]("window.Roomhub.normalizeName("+string(arg)+")"))
		if err != nil {
			t.Fatalf("normalizeName(%q) in the browser: %v", in, err)
		}
		want, err := roomhub.NormalizeName(in)
		wantErr := ""
		if err != nil {
			wantErr = roomhub.ErrorMessage(err)
		}
		if got.Name != want || got.Error != wantErr {
			t.Errorf("name %q: the lobby says (%q, %q), the server (%q, %q)", in, got.Name, got.Error, want, wantErr)
		}
	}
}

// nameResult is what the lobby's normalizeName returns.
type nameResult struct {
	Name  string `json:"name"`
	Error string `json:"error"`
}
