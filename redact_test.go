package roomhub

import "testing"

func TestRedactPath(t *testing.T) {
	for in, want := range map[string]string{
		"/invite/abc":            "/invite/[REDACTED]",
		"/reset/abc":             "/reset/[REDACTED]",
		"/join/abc.def":          "/join/[REDACTED]",
		"/o/acme/join/abc.def":   "/o/acme/join/[REDACTED]",
		"/o/acme/join/abc/extra": "/o/acme/join/[REDACTED]/extra",
		"/create_member/":        "/create_member/",
		"/dashboard/acme/live":   "/dashboard/acme/live",
		"/o/join/room/":          "/o/join/[REDACTED]/",
	} {
		if got := RedactPath(in); got != want {
			t.Errorf("RedactPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHideURLQueries(t *testing.T) {
	for in, want := range map[string]string{
		"webhook endpoint https://h.example/x?token=s added": "webhook endpoint https://h.example/x?… added",
		"https://h.example/x":                                "https://h.example/x",
		"no url here? no":                                    "no url here? no",
		"HTTP://H.example/?a=1&b=2#f":                        "HTTP://H.example/?…#f",
	} {
		if got := HideURLQueries(in); got != want {
			t.Errorf("HideURLQueries(%q) = %q, want %q", in, got, want)
		}
	}
	e := HideAuditSecrets(AuditEntry{Description: "to https://h/x?k=v", Path: "/invite/t", Extra: map[string]any{"url": "https://h/x?k=v", "n": 1.0}})
	if e.Description != "to https://h/x?…" || e.Path != "/invite/[REDACTED]" || e.Extra["url"] != "https://h/x?…" || e.Extra["n"] != 1.0 {
		t.Errorf("HideAuditSecrets: %+v", e)
	}
}
