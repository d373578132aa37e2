package webhook_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"roomhub/webhook"
)

// nodeModules is where scripts/test-deps.sh installs npm standardwebhooks.
func nodeModules(t *testing.T) string {
	dir := os.Getenv("ROOMHUB_NODE_MODULES")
	if dir == "" {
		dir, _ = filepath.Abs("../.cache/node/node_modules")
	}
	if _, err := os.Stat(filepath.Join(dir, "standardwebhooks", "package.json")); err != nil {
		t.Fatalf("npm standardwebhooks is not in %s: run scripts/test-deps.sh (%v)", dir, err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not on PATH: run scripts/test-deps.sh")
	}
	return dir
}

// TestStandardWebhooksVerifier runs the JavaScript of docs/webhooks.md,
// with the Standard Webhooks reference library for Node, on deliveries
// signed by Roomhub: a real one verifies, and tampering with the body, the
// id, the timestamp or the secret is refused.
func TestStandardWebhooksVerifier(t *testing.T) {
	modules := nodeModules(t)
	doc, err := os.ReadFile("../docs/webhooks.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```js\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/webhooks.md has no JavaScript verifier")
	}
	script := string(m[1]) + `
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const c = JSON.parse(input);
  try {
    const ev = verifyRoomhub(c.secret, c.headers, c.body);
    process.stdout.write("ok " + ev.id);
  } catch (e) {
    process.stdout.write("refused " + e.name + ": " + e.message);
  }
});
`
	secret := webhook.NewSecret()
	body := `{"id":"evt_0123456789abcdef0123456789abcdef","type":"test","created_at":1,"org":"acme","data":{"message":"hi"}}`
	signed := func(secret, id, body string, at time.Time) map[string]string {
		h := map[string]string{}
		for k, v := range webhook.Sign(secret, id, []byte(body), at) {
			h[k] = v[0]
		}
		return h
	}
	now := time.Now()
	good := signed(secret, "evt_0123456789abcdef0123456789abcdef", body, now)
	withHeader := func(k, v string) map[string]string {
		h := map[string]string{}
		for a, b := range good {
			h[a] = b
		}
		h[k] = v
		return h
	}
	for _, tc := range []struct {
		name    string
		secret  string
		headers map[string]string
		body    string
		want    string
	}{
		{"delivery", secret, good, body, "ok evt_0123456789abcdef0123456789abcdef"},
		{"tampered body", secret, good, strings.Replace(body, "hi", "ho", 1), "refused"},
		{"other id", secret, withHeader(webhook.EventIDHeader, "evt_other"), body, "refused"},
		{"other timestamp", secret, withHeader(webhook.TimestampHeader, good[webhook.TimestampHeader]+"1"), body, "refused"},
		{"other secret", webhook.NewSecret(), good, body, "refused"},
		{"stale", secret, signed(secret, "evt_1", body, now.Add(-webhook.DefaultTolerance-time.Minute)), body, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, _ := json.Marshal(map[string]any{"secret": tc.secret, "headers": tc.headers, "body": tc.body})
			cmd := exec.Command("node", "-e", script)
			cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
			cmd.Stdin = bytes.NewReader(in)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, out)
			}
			if !strings.HasPrefix(string(out), tc.want) {
				t.Fatalf("the standard verifier said %q, want %q", out, tc.want)
			}
		})
	}
}
