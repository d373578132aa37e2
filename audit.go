package roomhub

import (
	"encoding/json"
	"unicode/utf8"
)

// Bounds of an audit row's fields. Anyone can make Roomhub audit a refused
// request, and the request chooses its User-Agent (up to the header limit)
// and path: unbounded, one address could fill the database with them. The
// store cuts every field to these sizes before writing.
const (
	MaxAuditUserAgent   = 256  // bytes of the User-Agent kept
	MaxAuditPath        = 512  // bytes of the path kept
	MaxAuditDescription = 1000 // bytes of the description kept
	MaxAuditShort       = 200  // bytes of the actor, object and action fields kept
	MaxAuditExtraBytes  = 4096 // bytes of the extra JSON kept; larger becomes {"truncated": <size>}
)

// Truncate cuts s to at most n bytes without splitting a UTF-8 sequence,
// ending it with "…" when it was cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ell = "…"
	cut := n - len(ell)
	if cut < 0 {
		cut = 0
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}

// Bounded returns e with every field within the audit bounds, and the
// one-time tokens in its path replaced (RedactPath).
func (e AuditEntry) Bounded() AuditEntry {
	e.ActorID = Truncate(e.ActorID, MaxAuditShort)
	e.ActorName = Truncate(e.ActorName, MaxAuditShort)
	e.Action = Truncate(e.Action, MaxAuditShort)
	e.ObjectType = Truncate(e.ObjectType, MaxAuditShort)
	e.ObjectID = Truncate(e.ObjectID, MaxAuditShort)
	e.Description = Truncate(e.Description, MaxAuditDescription)
	e.IP = Truncate(e.IP, 64)
	e.UserAgent = Truncate(e.UserAgent, MaxAuditUserAgent)
	e.Path = Truncate(RedactPath(e.Path), MaxAuditPath)
	if len(e.Extra) > 0 {
		if b, err := json.Marshal(e.Extra); err != nil || len(b) > MaxAuditExtraBytes {
			e.Extra = map[string]any{"truncated": len(b)}
		}
	}
	return e
}
