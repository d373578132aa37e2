package roomhub

import "regexp"

// tokenPaths are the path segments followed by a one-time secret: account
// invitations and password resets (/invite/{token}, /reset/{token}) and
// room invite links (/join/{token}, /o/{org}/join/{token}). Whoever reads
// such a path in a log or an audit row could use the link.
var tokenPaths = regexp.MustCompile(`(^|/)(invite|reset|join)/[^/?#]+`)

// RedactedToken stands for a one-time secret removed from a path.
const RedactedToken = "[REDACTED]"

// RedactPath replaces the one-time secrets in an URL path with
// RedactedToken, keeping the route readable: "/o/acme/join/[REDACTED]".
func RedactPath(p string) string {
	return tokenPaths.ReplaceAllString(p, "${1}${2}/"+RedactedToken)
}

// urlQueries finds the query strings of absolute URLs in free text.
var urlQueries = regexp.MustCompile(`(?i)\b((?:https?|wss?)://[^\s?#"'<>]+)\?[^\s#"'<>]*`)

// HideURLQueries replaces the query string of every absolute URL in s with
// "?…": a webhook receiver's URL often carries its own token there.
func HideURLQueries(s string) string {
	return urlQueries.ReplaceAllString(s, "${1}?…")
}

// HideAuditSecrets returns e as someone who may read the audit log but not
// manage the organization sees it: URL query strings hidden in the
// description, object and extra values, and one-time tokens cut from the
// path (for rows written before paths were redacted on the way in).
func HideAuditSecrets(e AuditEntry) AuditEntry {
	e.Description = HideURLQueries(e.Description)
	e.ObjectID = HideURLQueries(e.ObjectID)
	e.Path = RedactPath(e.Path)
	if len(e.Extra) > 0 {
		out := make(map[string]any, len(e.Extra))
		for k, v := range e.Extra {
			out[k] = hideInValue(v)
		}
		e.Extra = out
	}
	return e
}

func hideInValue(v any) any {
	switch x := v.(type) {
	case string:
		return HideURLQueries(x)
	case []any:
		out := make([]any, len(x))
		for i, y := range x {
			out[i] = hideInValue(y)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, y := range x {
			out[k] = hideInValue(y)
		}
		return out
	}
	return v
}
