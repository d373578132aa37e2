// Package config reads Roomhub's settings from environment variables, the
// only configuration source, and says precisely which setting is wrong.
package config

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultAgoraTokenTTL is short so that a member no longer admitted loses
// the video within minutes even without Agora's REST API: pages renew a
// minute ahead of expiry (docs/agora.md has the renewal traffic).
const DefaultAgoraTokenTTL = 10 * time.Minute

// Config is the server's configuration.
type Config struct {
	Addr              string        // ADDR, default ":8080"
	SecretKey         string        // SECRET_KEY: signs CSRF tokens
	Debug             bool          // DEBUG, default false
	AllowedHosts      []string      // ALLOWED_HOSTS, comma-separated; ".example.com" matches subdomains
	AgoraAppID        string        // AGORA_APP_ID
	AgoraCertificate  string        // AGORA_APP_CERTIFICATE: never leaves the server
	AgoraTokenTTL     time.Duration // AGORA_TOKEN_TTL, default 10m
	SecureSSLRedirect bool          // SECURE_SSL_REDIRECT
	HSTSSeconds       int           // SECURE_HSTS_SECONDS, default 31536000 (0 in DEBUG)
	TrustedProxies    []netip.Prefix
	CORSOrigins       []string      // CORS_ALLOWED_ORIGINS
	DataDir           string        // DATA_DIR, default "./data"
	LogFile           string        // LOG_FILE, optional, rotated 5 MB x 5
	MemberGrace       time.Duration // MEMBER_GRACE, default 15s
	MaxRoomMembers    int           // MAX_ROOM_MEMBERS, default 200
	MaxOrgRooms       int           // MAX_ORG_ROOMS, default 1000
	MaxLiveStreams    int           // MAX_LIVE_STREAMS: live dashboard streams per node, default 1000
	ShutdownTimeout   time.Duration // SHUTDOWN_TIMEOUT, default 10s
	NodeHeartbeat     time.Duration // NODE_HEARTBEAT: how often a node refreshes its liveness (cluster), default 5s
	NodeTTL           time.Duration // NODE_TTL: a node silent this long is dead (cluster), default 15s
	EmptyRoomTTL      time.Duration // EMPTY_ROOM_TTL: how long Redis keeps an empty room's sequence number, default 10m
	PresenceReconcile time.Duration // PRESENCE_RECONCILE: how often presence is checked against open sockets (cluster), default 10s
	HistoryRepair     time.Duration // HISTORY_REPAIR: how often room history drops members gone from the room, default 1m
	MetricsAddr       string        // METRICS_ADDR: Prometheus listener, default 127.0.0.1:9464; "off" disables
	PprofAddr         string        // PPROF_ADDR: optional loopback listener for the Go profiler
	RedisURL          string        // REDIS_URL: bus, presence and rate limits on Redis
	DatabaseURL       string        // DATABASE_URL: postgres://... for PostgreSQL
	// WebhookAllowNets (WEBHOOK_ALLOW_NETS, comma-separated CIDRs or
	// addresses) are networks webhooks may reach despite the SSRF rules
	// (loopback, private, link-local, ... are refused); empty by default.
	WebhookAllowNets []netip.Prefix

	// Agora's REST API and notifications (docs/agora.md), for the default
	// organization and every one on the server's Agora project.
	AgoraCustomerID     string        // AGORA_CUSTOMER_ID
	AgoraCustomerSecret string        // AGORA_CUSTOMER_SECRET
	AgoraNCSSecret      string        // AGORA_NCS_SECRET: verifies notifications
	AgoraAPIURL         string        // AGORA_API_URL, default https://api.agora.io
	AgoraAPIRate        int           // AGORA_API_RATE: REST calls per second per account, default 8 (Agora allows 10)
	AgoraQueueSize      int           // AGORA_QUEUE_SIZE: video removals waiting, default 1000
	AgoraNCSMaxBytes    int           // AGORA_NCS_MAX_BYTES: a notification's body, default 16384
	AgoraIntruderGrace  time.Duration // AGORA_INTRUDER_GRACE: a uid in the video without a member this long is an intruder, default 5s

	MasterKey       string        // APP_MASTER_KEY: base64 of 32 bytes; encrypts stored secrets
	APIKeySecret    string        // API_KEY_SECRET: HMAC key for API keys; differs from SECRET_KEY
	PublicURL       string        // PUBLIC_URL: https://host as users reach it; links and SSO callbacks
	LockoutLimit    int           // LOCKOUT_LIMIT: failed logins per (email, IP) before a lock, default 5
	LockoutDuration time.Duration // LOCKOUT_DURATION: how long the lock lasts, default 1h
	InviteTTL       time.Duration // INVITE_TTL: lifetime of invitation and reset links, default 72h

	SSOOIDCIssuer       string // SSO_OIDC_ISSUER: generic OpenID Connect
	SSOOIDCClientID     string // SSO_OIDC_CLIENT_ID
	SSOOIDCClientSecret string // SSO_OIDC_CLIENT_SECRET
	SSOGoogleClientID   string // SSO_GOOGLE_CLIENT_ID
	SSOGoogleSecret     string // SSO_GOOGLE_CLIENT_SECRET
	SSOGitHubClientID   string // SSO_GITHUB_CLIENT_ID
	SSOGitHubSecret     string // SSO_GITHUB_CLIENT_SECRET
	SSOAzureClientID    string // SSO_AZUREAD_CLIENT_ID: Microsoft Entra ID
	SSOAzureSecret      string // SSO_AZUREAD_CLIENT_SECRET
	SSOAzureTenant      string // SSO_AZUREAD_TENANT: tenant id, or "common"/"organizations"

	// Limits against flooding and slow clients (each in .env.example).
	LogMaxValueBytes      int           // LOG_MAX_VALUE_BYTES: longest logged value (User-Agent, path, ...), default 1024
	SecurityLogBurst      int           // SECURITY_LOG_BURST: security events of one kind per address per window, default 20
	SecurityLogWindow     time.Duration // SECURITY_LOG_WINDOW: that window, default 1m; repeats past the burst are counted
	MaxLiveStreamsPerUser int           // MAX_LIVE_STREAMS_PER_USER: per user on a node, default 10
	MaxLiveStreamsPerOrg  int           // MAX_LIVE_STREAMS_PER_ORG: per organization on a node, default 100
	MaxBodyBytes          int           // MAX_BODY_BYTES: largest request body read, whatever its headers, default 16384
	BodyReadTimeout       time.Duration // BODY_READ_TIMEOUT: time to receive a request body, default 10s
	ReadHeaderTimeout     time.Duration // READ_HEADER_TIMEOUT: time to receive a request's headers, default 10s
	AuditRetention        time.Duration // AUDIT_RETENTION: audit rows older than this are pruned, default 4320h (180 days)
	AuditMaxUserAgent     int           // AUDIT_MAX_USER_AGENT: bytes of a User-Agent an audit row keeps, default 256
	AuditMaxPath          int           // AUDIT_MAX_PATH: bytes of a path an audit row keeps, default 512
	AuditMaxDescription   int           // AUDIT_MAX_DESCRIPTION: bytes of a description an audit row keeps, default 1000
}

// MinAPIKeySecretLen is the shortest API_KEY_SECRET accepted outside DEBUG.
const MinAPIKeySecretLen = 32

// MinSecretKeyLen is the shortest SECRET_KEY accepted outside DEBUG.
const MinSecretKeyLen = 50

// Problem is one wrong or missing setting.
type Problem struct {
	Var     string
	Message string
}

func (p Problem) String() string { return p.Var + ": " + p.Message }

// Error lists every problem found.
type Error []Problem

func (e Error) Error() string {
	parts := make([]string, len(e))
	for i, p := range e {
		parts[i] = p.String()
	}
	return "invalid configuration: " + strings.Join(parts, "; ")
}

// Load reads the configuration through getenv (os.Getenv in main). It
// returns every problem at once, so an operator fixes them in one pass.
func Load(getenv func(string) string) (Config, error) {
	var probs Error
	c := Config{
		Addr:             or(getenv("ADDR"), ":8080"),
		SecretKey:        getenv("SECRET_KEY"),
		AgoraAppID:       strings.TrimSpace(getenv("AGORA_APP_ID")),
		AgoraCertificate: strings.TrimSpace(getenv("AGORA_APP_CERTIFICATE")),
		DataDir:          or(getenv("DATA_DIR"), "./data"),
		LogFile:          getenv("LOG_FILE"),
	}
	boolVar := func(name string, def bool) bool {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			probs = append(probs, Problem{name, fmt.Sprintf("%q is not true or false", v)})
		}
		return b
	}
	durVar := func(name string, def, min, max time.Duration) time.Duration {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			if n, nerr := strconv.Atoi(v); nerr == nil { // plain seconds
				d, err = time.Duration(n)*time.Second, nil
			}
		}
		if err != nil || d < min || d > max {
			probs = append(probs, Problem{name, fmt.Sprintf("%q must be a duration from %s to %s", v, min, max)})
			return def
		}
		return d
	}
	intVar := func(name string, def, min, max int) int {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			probs = append(probs, Problem{name, fmt.Sprintf("%q must be an integer from %d to %d", v, min, max)})
			return def
		}
		return n
	}
	c.MetricsAddr = or(getenv("METRICS_ADDR"), "127.0.0.1:9464")
	if c.MetricsAddr != "off" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			probs = append(probs, Problem{"METRICS_ADDR", fmt.Sprintf("%q is not host:port (or off)", c.MetricsAddr)})
		}
	}
	c.PprofAddr = strings.TrimSpace(getenv("PPROF_ADDR"))
	if c.PprofAddr != "" {
		host, _, err := net.SplitHostPort(c.PprofAddr)
		if ip, perr := netip.ParseAddr(host); err != nil || perr != nil || !ip.IsLoopback() {
			probs = append(probs, Problem{"PPROF_ADDR", "must be a loopback address with a port, like 127.0.0.1:6060: the profiler is never public"})
		}
	}
	c.RedisURL = strings.TrimSpace(getenv("REDIS_URL"))
	c.DatabaseURL = strings.TrimSpace(getenv("DATABASE_URL"))
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		probs = append(probs, Problem{"DATABASE_URL", "must be a postgres:// URL (leave it empty for the SQLite file in DATA_DIR)"})
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		probs = append(probs, Problem{"REDIS_URL", "must be a redis:// or rediss:// URL"})
	}
	c.MasterKey = strings.TrimSpace(getenv("APP_MASTER_KEY"))
	c.APIKeySecret = strings.TrimSpace(getenv("API_KEY_SECRET"))
	c.PublicURL = strings.TrimRight(strings.TrimSpace(getenv("PUBLIC_URL")), "/")
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			probs = append(probs, Problem{"PUBLIC_URL", fmt.Sprintf("%q is not a URL like https://meet.example.com", c.PublicURL)})
		}
	}
	c.LockoutLimit = intVar("LOCKOUT_LIMIT", 5, 1, 100)
	c.LockoutDuration = durVar("LOCKOUT_DURATION", time.Hour, time.Minute, 7*24*time.Hour)
	c.InviteTTL = durVar("INVITE_TTL", 72*time.Hour, 10*time.Minute, 30*24*time.Hour)
	c.LogMaxValueBytes = intVar("LOG_MAX_VALUE_BYTES", 1024, 64, 1<<20)
	c.SecurityLogBurst = intVar("SECURITY_LOG_BURST", 20, 1, 100000)
	c.SecurityLogWindow = durVar("SECURITY_LOG_WINDOW", time.Minute, time.Second, 24*time.Hour)
	c.MaxBodyBytes = intVar("MAX_BODY_BYTES", 16<<10, 1<<10, 64<<20)
	c.BodyReadTimeout = durVar("BODY_READ_TIMEOUT", 10*time.Second, 100*time.Millisecond, 10*time.Minute)
	c.ReadHeaderTimeout = durVar("READ_HEADER_TIMEOUT", 10*time.Second, 100*time.Millisecond, 10*time.Minute)
	c.AuditMaxUserAgent = intVar("AUDIT_MAX_USER_AGENT", 256, 16, 64<<10)
	c.AuditMaxPath = intVar("AUDIT_MAX_PATH", 512, 16, 64<<10)
	c.AuditMaxDescription = intVar("AUDIT_MAX_DESCRIPTION", 1000, 16, 64<<10)
	c.AuditRetention = durVar("AUDIT_RETENTION", 180*24*time.Hour, time.Hour, 10*365*24*time.Hour)
	c.SSOOIDCIssuer = strings.TrimSpace(getenv("SSO_OIDC_ISSUER"))
	c.SSOOIDCClientID = strings.TrimSpace(getenv("SSO_OIDC_CLIENT_ID"))
	c.SSOOIDCClientSecret = strings.TrimSpace(getenv("SSO_OIDC_CLIENT_SECRET"))
	c.SSOGoogleClientID = strings.TrimSpace(getenv("SSO_GOOGLE_CLIENT_ID"))
	c.SSOGoogleSecret = strings.TrimSpace(getenv("SSO_GOOGLE_CLIENT_SECRET"))
	c.SSOGitHubClientID = strings.TrimSpace(getenv("SSO_GITHUB_CLIENT_ID"))
	c.SSOGitHubSecret = strings.TrimSpace(getenv("SSO_GITHUB_CLIENT_SECRET"))
	c.SSOAzureClientID = strings.TrimSpace(getenv("SSO_AZUREAD_CLIENT_ID"))
	c.SSOAzureSecret = strings.TrimSpace(getenv("SSO_AZUREAD_CLIENT_SECRET"))
	c.SSOAzureTenant = or(getenv("SSO_AZUREAD_TENANT"), "organizations")
	for _, p := range [][3]string{
		{"SSO_OIDC_CLIENT_ID", c.SSOOIDCClientID, c.SSOOIDCClientSecret},
		{"SSO_GOOGLE_CLIENT_ID", c.SSOGoogleClientID, c.SSOGoogleSecret},
		{"SSO_GITHUB_CLIENT_ID", c.SSOGitHubClientID, c.SSOGitHubSecret},
		{"SSO_AZUREAD_CLIENT_ID", c.SSOAzureClientID, c.SSOAzureSecret},
	} {
		if (p[1] == "") != (p[2] == "") {
			probs = append(probs, Problem{p[0], "the client id and its secret must be set together"})
		}
	}
	if c.SSOOIDCClientID != "" && !strings.HasPrefix(c.SSOOIDCIssuer, "https://") && !strings.HasPrefix(c.SSOOIDCIssuer, "http://") {
		probs = append(probs, Problem{"SSO_OIDC_ISSUER", "must be the provider's issuer URL when SSO_OIDC_CLIENT_ID is set"})
	}
	if c.SSOEnabled() && c.PublicURL == "" {
		probs = append(probs, Problem{"PUBLIC_URL", "must be set when an SSO provider is enabled: it builds the callback URL"})
	}
	c.Debug = boolVar("DEBUG", false)
	c.SecureSSLRedirect = boolVar("SECURE_SSL_REDIRECT", false)
	hstsDefault := 31536000
	if c.Debug {
		hstsDefault = 0
	}
	c.HSTSSeconds = intVar("SECURE_HSTS_SECONDS", hstsDefault, 0, 2*31536000)
	c.AgoraTokenTTL = durVar("AGORA_TOKEN_TTL", DefaultAgoraTokenTTL, time.Minute, 24*time.Hour)
	c.AgoraCustomerID = strings.TrimSpace(getenv("AGORA_CUSTOMER_ID"))
	c.AgoraCustomerSecret = strings.TrimSpace(getenv("AGORA_CUSTOMER_SECRET"))
	c.AgoraNCSSecret = strings.TrimSpace(getenv("AGORA_NCS_SECRET"))
	c.AgoraAPIURL = or(strings.TrimSpace(getenv("AGORA_API_URL")), "https://api.agora.io")
	if !strings.HasPrefix(c.AgoraAPIURL, "https://") && !strings.HasPrefix(c.AgoraAPIURL, "http://") {
		probs = append(probs, Problem{"AGORA_API_URL", "must be an http(s) URL such as https://api.agora.io"})
	}
	if (c.AgoraCustomerID == "") != (c.AgoraCustomerSecret == "") {
		probs = append(probs, Problem{"AGORA_CUSTOMER_SECRET", "AGORA_CUSTOMER_ID and AGORA_CUSTOMER_SECRET must be set together"})
	}
	c.AgoraAPIRate = intVar("AGORA_API_RATE", 8, 1, 10)
	c.AgoraQueueSize = intVar("AGORA_QUEUE_SIZE", 1000, 1, 100000)
	c.AgoraNCSMaxBytes = intVar("AGORA_NCS_MAX_BYTES", 16<<10, 1<<10, 1<<20)
	c.AgoraIntruderGrace = durVar("AGORA_INTRUDER_GRACE", 5*time.Second, 0, 10*time.Minute)
	c.MemberGrace = durVar("MEMBER_GRACE", 15*time.Second, 100*time.Millisecond, time.Hour)
	c.ShutdownTimeout = durVar("SHUTDOWN_TIMEOUT", 10*time.Second, time.Second, 5*time.Minute)
	c.NodeHeartbeat = durVar("NODE_HEARTBEAT", 5*time.Second, 100*time.Millisecond, time.Minute)
	c.NodeTTL = durVar("NODE_TTL", 15*time.Second, 300*time.Millisecond, 10*time.Minute)
	c.EmptyRoomTTL = durVar("EMPTY_ROOM_TTL", 10*time.Minute, time.Second, 7*24*time.Hour)
	c.PresenceReconcile = durVar("PRESENCE_RECONCILE", 10*time.Second, 100*time.Millisecond, 10*time.Minute)
	c.HistoryRepair = durVar("HISTORY_REPAIR", time.Minute, 100*time.Millisecond, time.Hour)
	if c.NodeTTL < 2*c.NodeHeartbeat {
		probs = append(probs, Problem{"NODE_TTL", fmt.Sprintf("must be at least twice NODE_HEARTBEAT (%s)", c.NodeHeartbeat)})
	}
	c.MaxRoomMembers = intVar("MAX_ROOM_MEMBERS", 200, 1, 100000)
	c.MaxOrgRooms = intVar("MAX_ORG_ROOMS", 1000, 1, 1000000)
	c.MaxLiveStreams = intVar("MAX_LIVE_STREAMS", 1000, 1, 100000)
	c.MaxLiveStreamsPerUser = intVar("MAX_LIVE_STREAMS_PER_USER", 10, 1, 100000)
	c.MaxLiveStreamsPerOrg = intVar("MAX_LIVE_STREAMS_PER_ORG", 100, 1, 100000)
	c.AllowedHosts = list(getenv("ALLOWED_HOSTS"))
	c.CORSOrigins = list(getenv("CORS_ALLOWED_ORIGINS"))
	for _, o := range c.CORSOrigins {
		if !strings.HasPrefix(o, "https://") && !strings.HasPrefix(o, "http://") || strings.Count(o, "/") != 2 {
			probs = append(probs, Problem{"CORS_ALLOWED_ORIGINS", fmt.Sprintf("%q is not an origin like https://app.example.com", o)})
		}
	}
	for _, s := range list(getenv("TRUSTED_PROXIES")) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				probs = append(probs, Problem{"TRUSTED_PROXIES", fmt.Sprintf("%q is not a CIDR or an IP address", s)})
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, p.Masked())
	}
	for _, s := range list(getenv("WEBHOOK_ALLOW_NETS")) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				probs = append(probs, Problem{"WEBHOOK_ALLOW_NETS", fmt.Sprintf("%q is not a CIDR or an IP address", s)})
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		c.WebhookAllowNets = append(c.WebhookAllowNets, p.Masked())
	}
	if (c.AgoraAppID == "") != (c.AgoraCertificate == "") {
		probs = append(probs, Problem{"AGORA_APP_CERTIFICATE", "AGORA_APP_ID and AGORA_APP_CERTIFICATE must be set together"})
	}
	// Agora accepts no token built from anything else: a malformed value
	// would hand out tokens that can never join.
	for _, v := range []struct{ name, val string }{{"AGORA_APP_ID", c.AgoraAppID}, {"AGORA_APP_CERTIFICATE", c.AgoraCertificate}} {
		if v.val != "" && !AgoraHex(v.val) {
			probs = append(probs, Problem{v.name, "must be 32 hexadecimal characters, as shown in the Agora console"})
		}
	}
	if c.Debug && len(c.AllowedHosts) == 0 {
		c.AllowedHosts = []string{"localhost", "127.0.0.1", "[::1]"}
	}
	probs = append(probs, c.Check()...)
	if len(probs) > 0 {
		return c, probs
	}
	return c, nil
}

// Check returns the problems that make c unsafe for production. In DEBUG
// they are tolerated (main generates a throwaway secret key).
func (c Config) Check() Error {
	if c.Debug {
		return nil
	}
	var probs Error
	switch {
	case c.SecretKey == "":
		probs = append(probs, Problem{"SECRET_KEY", "is not set; generate one with: bin/roomhub secrets generate-key"})
	case len(c.SecretKey) < MinSecretKeyLen:
		probs = append(probs, Problem{"SECRET_KEY", fmt.Sprintf("is %d characters; at least %d are required", len(c.SecretKey), MinSecretKeyLen)})
	case insecureKey(c.SecretKey):
		probs = append(probs, Problem{"SECRET_KEY", "is a placeholder or too repetitive to be secret"})
	}
	switch {
	case c.MasterKey == "":
		probs = append(probs, Problem{"APP_MASTER_KEY", "is not set; generate one with: bin/roomhub secrets generate-key"})
	case !validMasterKey(c.MasterKey):
		probs = append(probs, Problem{"APP_MASTER_KEY", "must be the base64 form of at least 32 random bytes (bin/roomhub secrets generate-key)"})
	}
	switch {
	case c.APIKeySecret == "":
		probs = append(probs, Problem{"API_KEY_SECRET", "is not set; generate one with: bin/roomhub secrets generate-key"})
	case len(c.APIKeySecret) < MinAPIKeySecretLen:
		probs = append(probs, Problem{"API_KEY_SECRET", fmt.Sprintf("is %d characters; at least %d are required", len(c.APIKeySecret), MinAPIKeySecretLen)})
	case c.APIKeySecret == c.SecretKey:
		probs = append(probs, Problem{"API_KEY_SECRET", "must differ from SECRET_KEY"})
	case c.APIKeySecret == c.MasterKey:
		probs = append(probs, Problem{"API_KEY_SECRET", "must differ from APP_MASTER_KEY"})
	}
	if len(c.AllowedHosts) == 0 {
		probs = append(probs, Problem{"ALLOWED_HOSTS", "is empty; list the host names this server answers to"})
	}
	for _, h := range c.AllowedHosts {
		if h == "*" {
			probs = append(probs, Problem{"ALLOWED_HOSTS", `"*" accepts any Host header; list the host names instead`})
		}
	}
	return probs
}

// insecureKey spots placeholder keys: known prefixes or too few distinct
// characters (Django's rule is at least 5 unique characters).
func insecureKey(k string) bool {
	lk := strings.ToLower(k)
	for _, p := range []string{"django-insecure", "changeme", "change-me", "secret", "insecure", "example", "<generate"} {
		if strings.HasPrefix(lk, p) {
			return true
		}
	}
	seen := map[rune]bool{}
	for _, r := range k {
		seen[r] = true
	}
	return len(seen) < 10
}

// AgoraHex reports whether v has the form of an Agora App ID or app
// certificate: 32 hexadecimal characters.
func AgoraHex(v string) bool {
	if len(v) != 32 {
		return false
	}
	_, err := hex.DecodeString(v)
	return err == nil
}

// SSOEnabled reports whether any SSO provider is configured.
func (c Config) SSOEnabled() bool {
	return c.SSOOIDCClientID != "" || c.SSOGoogleClientID != "" || c.SSOGitHubClientID != "" || c.SSOAzureClientID != ""
}

// validMasterKey reports whether k is the base64 form of at least 32 bytes
// (256 bits); secrets generate-key prints 64.
func validMasterKey(k string) bool {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(k); err == nil && len(b) >= 32 {
			return true
		}
	}
	return false
}

func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func or(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return strings.TrimSpace(v)
}
