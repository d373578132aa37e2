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
