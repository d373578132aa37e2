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
	MaxAuditUserAgent   = 256  // bytes of the User-Agent kept (default of AUDIT_MAX_USER_AGENT)
	MaxAuditPath        = 512  // bytes of the path kept (default of AUDIT_MAX_PATH)
	MaxAuditDescription = 1000 // bytes of the description kept (default of AUDIT_MAX_DESCRIPTION)
	MaxAuditShort       = 200  // bytes of the actor, object and action fields kept
	MaxAuditExtraBytes  = 4096 // bytes of the extra JSON kept; larger becomes {"truncated": <size>}
)

// AuditBounds are the settable bounds of the fields a request chooses
// (AUDIT_MAX_USER_AGENT, AUDIT_MAX_PATH, AUDIT_MAX_DESCRIPTION); zero
// fields take the defaults above.
type AuditBounds struct {
	UserAgent, Path, Description int
}

func (b AuditBounds) orDefaults() AuditBounds {
	if b.UserAgent <= 0 {
		b.UserAgent = MaxAuditUserAgent
	}
	if b.Path <= 0 {
		b.Path = MaxAuditPath
	}
	if b.Description <= 0 {
		b.Description = MaxAuditDescription
	}
	return b
}

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

// Bounded returns e with every field within the default audit bounds, and
// the one-time tokens in its path replaced (RedactPath).
func (e AuditEntry) Bounded() AuditEntry { return e.BoundedBy(AuditBounds{}) }

// BoundedBy is Bounded with the given bounds.
func (e AuditEntry) BoundedBy(b AuditBounds) AuditEntry {
	b = b.orDefaults()
	e.ActorID = Truncate(e.ActorID, MaxAuditShort)
	e.ActorName = Truncate(e.ActorName, MaxAuditShort)
	e.Action = Truncate(e.Action, MaxAuditShort)
	e.ObjectType = Truncate(e.ObjectType, MaxAuditShort)
	e.ObjectID = Truncate(e.ObjectID, MaxAuditShort)
	e.Description = Truncate(e.Description, b.Description)
	e.IP = Truncate(e.IP, 64)
	e.UserAgent = Truncate(e.UserAgent, b.UserAgent)
	e.Path = Truncate(RedactPath(e.Path), b.Path)
	if len(e.Extra) > 0 {
		if b, err := json.Marshal(e.Extra); err != nil || len(b) > MaxAuditExtraBytes {
			e.Extra = map[string]any{"truncated": len(b)}
		}
	}
	return e
}
