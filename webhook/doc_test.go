package webhook_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"roomhub"
	"roomhub/webhook"
)

// shortDuration spells d as docs/webhooks.md does: 30s, 2m, 2h8m, 4h.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// TestWebhookDocument holds docs/webhooks.md to the code: its example
// request is signed by Sign and verifies with Verify (and a Verifier refuses
// its replay), its headers and envelope are the ones sent, and its limits
// and retry schedule are the constants the worker uses.
func TestWebhookDocument(t *testing.T) {
	b, err := os.ReadFile("../docs/webhooks.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	flat := strings.Join(strings.Fields(doc), " ")

	// The example request.
	m := regexp.MustCompile("(?s)### Example\n.*?the secret\\s+`(whsec_[A-Za-z0-9+/=]+)`.*?```http\n(.*?)\n```").FindStringSubmatch(doc)
	if m == nil {
		t.Fatal("docs/webhooks.md has no example request with its secret")
	}
	secret := m[1]
	head, body, ok := strings.Cut(m[2], "\n\n")
	if !ok || strings.Contains(body, "\n") {
		t.Fatalf("the example is not headers, a blank line and a one-line body: %q", m[2])
	}
	headers := map[string]string{}
	for _, line := range strings.Split(head, "\n")[1:] {
		k, v, _ := strings.Cut(line, ": ")
		headers[k] = v
	}
	hh := http.Header{}
	for k, v := range headers {
		hh.Set(k, v)
	}
	ts, err := strconv.ParseInt(headers[webhook.TimestampHeader], 10, 64)
	if err != nil {
		t.Fatalf("example timestamp %q", headers[webhook.TimestampHeader])
	}
	at := time.Unix(ts, 0)
	if got := webhook.Sign(secret, headers[webhook.EventIDHeader], []byte(body), at); got.Get(webhook.SignatureHeader) != headers[webhook.SignatureHeader] {
		t.Fatalf("the example's signature is %q; Sign makes %q", headers[webhook.SignatureHeader], got.Get(webhook.SignatureHeader))
	}
	if err := webhook.Verify(secret, hh, []byte(body), at.Add(time.Minute)); err != nil {
		t.Fatalf("the example does not verify: %v", err)
	}
	if err := webhook.Verify(secret, hh, []byte(body), at.Add(webhook.DefaultTolerance+time.Second)); !errors.Is(err, webhook.ErrStale) {
		t.Fatalf("the example verifies after the tolerance: %v", err)
	}
	v := webhook.NewVerifier(secret).WithClock(func() time.Time { return at })
	if _, err := v.Verify(hh, []byte(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(hh, []byte(body)); !errors.Is(err, webhook.ErrReplay) {
		t.Fatalf("the example's replay: %v", err)
	}

	// The envelope: exactly roomhub.WebhookEvent's fields, agreeing with
	// the headers.
	var ev roomhub.WebhookEvent
	var fields map[string]any
	if json.Unmarshal([]byte(body), &ev) != nil || json.Unmarshal([]byte(body), &fields) != nil {
		t.Fatal("the example body is not JSON")
	}
	want, _ := json.Marshal(roomhub.WebhookEvent{})
	var wantFields map[string]any
	json.Unmarshal(want, &wantFields)
	if keys(fields) != keys(wantFields) {
		t.Fatalf("the example envelope has %s, the code sends %s", keys(fields), keys(wantFields))
	}
	if headers[webhook.EventIDHeader] != ev.ID || headers[webhook.EventTypeHeader] != ev.Type || headers[webhook.AttemptHeader] != "1" ||
		headers["User-Agent"] != webhook.UserAgent || headers["Content-Type"] != "application/json" {
		t.Fatalf("example headers %v disagree with the body or the code", headers)
	}
	for _, f := range strings.Fields(keys(wantFields)) {
		if !strings.Contains(doc, "| `"+f+"` |") {
			t.Errorf("envelope field %s is not in the table", f)
		}
	}
	for _, h := range []string{webhook.SignatureHeader, webhook.TimestampHeader, webhook.EventIDHeader, webhook.EventTypeHeader, webhook.AttemptHeader} {
		if !strings.Contains(doc, "| `"+h+"` |") {
			t.Errorf("header %s is not in the table", h)
		}
	}

	// Each event type and its data.
	data := map[string][]string{
		roomhub.EventRoomStarted:   {"room", "started_at"},
		roomhub.EventRoomFinished:  {"room", "started_at", "ended_at", "peak_members", "member_minutes"},
		roomhub.EventMemberJoined:  {"room", "uid", "name", "joined_at"},
		roomhub.EventMemberLeft:    {"room", "uid", "name", "reason", "joined_at", "left_at"},
		roomhub.EventTest:          {"message"},
		roomhub.EventVideoIntruder: {"room", "uid", "removing", "detected_at"},
	}
	if len(data) != len(roomhub.WebhookEventTypes)+1 {
		t.Fatal("an event type is missing from this test")
	}
	for typ, fs := range data {
		_, section, ok := strings.Cut(doc, "### `"+typ+"`\n")
		if !ok {
			t.Errorf("event %s has no section", typ)
			continue
		}
		section, _, _ = strings.Cut(section, "\n##")
		for _, f := range fs {
			if !strings.Contains(section, "| `"+f+"` |") {
				t.Errorf("event %s: field %s is not documented", typ, f)
			}
		}
	}
	var exampleData map[string]any
	json.Unmarshal(mustJSON(t, ev.Data), &exampleData)
	if keys(exampleData) != strings.Join(sorted(data[ev.Type]), " ") {
		t.Errorf("the example's data %s differs from its event's fields %v", keys(exampleData), data[ev.Type])
	}

	// The retry schedule and the limits.
	for i := 1; i < webhook.MaxAttempts; i++ {
		if row := fmt.Sprintf("| %d | %s |", i, shortDuration(webhook.Backoff(i, 0.5))); !strings.Contains(doc, row) {
			t.Errorf("retry row %q missing", row)
		}
	}
	if strings.Contains(doc, fmt.Sprintf("| %d | ", webhook.MaxAttempts)) {
		t.Errorf("the schedule lists a wait after the last attempt")
	}
	for _, phrase := range []string{
		fmt.Sprintf("After **%d attempts**", webhook.MaxAttempts),
		fmt.Sprintf("within **%d minutes**", int(webhook.DefaultTolerance/time.Minute)),
		fmt.Sprintf("within **%d seconds**", int(webhook.RequestTimeout/time.Second)),
		fmt.Sprintf("within %d seconds", int(webhook.RequestTimeout/time.Second)),
		fmt.Sprintf("at most %d KiB", webhook.MaxResponseBytes>>10),
		fmt.Sprintf("%d-minute lease", int(webhook.Lease/time.Minute)),
		fmt.Sprintf("kept %d days", int(webhook.Retention/(24*time.Hour))),
		fmt.Sprintf("±%d%%", int(webhook.BackoffJitter*100)),
		fmt.Sprintf("up to %d hours", int(webhook.MaxBackoff/time.Hour)),
		fmt.Sprintf("grows %dfold", webhook.BackoffFactor),
		fmt.Sprintf("at most %d requests", webhook.DefaultMaxSeen),
		fmt.Sprintf("At most **%d endpoints**", roomhub.MaxWebhookEndpoints),
		fmt.Sprintf("at most %d bytes", roomhub.MaxWebhookURLLen),
		fmt.Sprintf("at most %d characters", roomhub.MaxWebhookDescriptionLen),
		fmt.Sprintf("`%s` and 44 more characters", webhook.SecretPrefix),
	} {
		if !strings.Contains(flat, phrase) && !strings.Contains(flat, strings.ReplaceAll(phrase, "grows 4fold", "grows fourfold")) {
			t.Errorf("docs/webhooks.md does not say %q", phrase)
		}
	}
}

func keys(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return strings.Join(sorted(ks), " ")
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
