package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretsAreRedacted(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, 0)
	log.Info("x", "token", "007eJxTYAA", "csrf_token", "abc", "AGORA_APP_CERTIFICATE", "5CFd2f", "Authorization", "Bearer rk_1",
		"event", "token_generated", "room", "standup")
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"token", "csrf_token", "AGORA_APP_CERTIFICATE", "Authorization"} {
		if got[k] != Redacted {
			t.Errorf("%s = %v, want redacted", k, got[k])
		}
	}
	if got["event"] != "token_generated" || got["room"] != "standup" {
		t.Errorf("ordinary attributes altered: %v", got)
	}
	for _, secret := range []string{"007eJxTYAA", "5CFd2f", "rk_1"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log line contains %q", secret)
		}
	}
}

func TestFileRotatesAtLimitKeepingBackups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "security.log")
	f, err := OpenFile(path, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line := strings.Repeat("x", 39) + "\n" // 40 bytes: two fit in 100, a third rotates
	for i := 0; i < 7; i++ {
		fmt.Fprint(f, line)
	}
	// 7 lines: 1.. rotate after every 2: current holds 1, .1 holds 2, .2 holds 2, the rest dropped.
	sizes := map[string]int64{}
	for _, p := range []string{path, path + ".1", path + ".2", path + ".3"} {
		st, err := os.Stat(p)
		if err == nil {
			sizes[filepath.Base(p)] = st.Size()
		}
	}
	want := map[string]int64{"security.log": 40, "security.log.1": 80, "security.log.2": 80}
	if fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Fatalf("files %v, want %v", sizes, want)
	}
}

// TestOneTimeTokensLeaveNoTraceInLogs: a log reader cannot take an
// invitation, reset or room invite link from a logged path.
func TestOneTimeTokensLeaveNoTraceInLogs(t *testing.T) {
	for _, p := range []string{"/invite/inv-SECRET", "/reset/rst-SECRET", "/o/acme/join/v1.SECRET.sig", "/join/v1.SECRET.sig"} {
		var buf bytes.Buffer
		New(&buf, 0).Info("request", "path", p, "status", 200)
		if strings.Contains(buf.String(), "SECRET") || !strings.Contains(buf.String(), "[REDACTED]") {
			t.Errorf("%s logged as %s", p, buf.String())
		}
	}
}
