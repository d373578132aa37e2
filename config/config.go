// Package config reads Roomhub's settings from environment variables, the
// only configuration source, and says precisely which setting is wrong.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Config is the server's configuration.
type Config struct {
	Addr              string        // ADDR, default ":8080"
	SecretKey         string        // SECRET_KEY: signs CSRF tokens
	Debug             bool          // DEBUG, default false
	AllowedHosts      []string      // ALLOWED_HOSTS, comma-separated; ".example.com" matches subdomains
	AgoraAppID        string        // AGORA_APP_ID
	AgoraCertificate  string        // AGORA_APP_CERTIFICATE: never leaves the server
	AgoraTokenTTL     time.Duration // AGORA_TOKEN_TTL, default 1h
	SecureSSLRedirect bool          // SECURE_SSL_REDIRECT
	HSTSSeconds       int           // SECURE_HSTS_SECONDS, default 31536000 (0 in DEBUG)
	TrustedProxies    []netip.Prefix
	CORSOrigins       []string      // CORS_ALLOWED_ORIGINS
	DataDir           string        // DATA_DIR, default "./data"
	LogFile           string        // LOG_FILE, optional, rotated 5 MB x 5
	MemberGrace       time.Duration // MEMBER_GRACE, default 15s
	MaxRoomMembers    int           // MAX_ROOM_MEMBERS, default 200
	MaxOrgRooms       int           // MAX_ORG_ROOMS, default 1000
	ShutdownTimeout   time.Duration // SHUTDOWN_TIMEOUT, default 10s
	NodeHeartbeat     time.Duration // NODE_HEARTBEAT: how often a node refreshes its liveness (cluster), default 5s
	NodeTTL           time.Duration // NODE_TTL: a node silent this long is dead (cluster), default 15s
	MetricsAddr       string        // METRICS_ADDR: Prometheus listener, default 127.0.0.1:9464; "off" disables
	PprofAddr         string        // PPROF_ADDR: optional loopback listener for the Go profiler
	RedisURL          string        // REDIS_URL: bus, presence and rate limits on Redis
	DatabaseURL       string        // DATABASE_URL: postgres://... for PostgreSQL
}

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
	c.Debug = boolVar("DEBUG", false)
	c.SecureSSLRedirect = boolVar("SECURE_SSL_REDIRECT", false)
	hstsDefault := 31536000
	if c.Debug {
		hstsDefault = 0
	}
	c.HSTSSeconds = intVar("SECURE_HSTS_SECONDS", hstsDefault, 0, 2*31536000)
	c.AgoraTokenTTL = durVar("AGORA_TOKEN_TTL", time.Hour, time.Minute, 24*time.Hour)
	c.MemberGrace = durVar("MEMBER_GRACE", 15*time.Second, 100*time.Millisecond, time.Hour)
	c.ShutdownTimeout = durVar("SHUTDOWN_TIMEOUT", 10*time.Second, time.Second, 5*time.Minute)
	c.NodeHeartbeat = durVar("NODE_HEARTBEAT", 5*time.Second, 100*time.Millisecond, time.Minute)
	c.NodeTTL = durVar("NODE_TTL", 15*time.Second, 300*time.Millisecond, 10*time.Minute)
	if c.NodeTTL < 2*c.NodeHeartbeat {
		probs = append(probs, Problem{"NODE_TTL", fmt.Sprintf("must be at least twice NODE_HEARTBEAT (%s)", c.NodeHeartbeat)})
	}
	c.MaxRoomMembers = intVar("MAX_ROOM_MEMBERS", 200, 1, 100000)
	c.MaxOrgRooms = intVar("MAX_ORG_ROOMS", 1000, 1, 1000000)
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
	if (c.AgoraAppID == "") != (c.AgoraCertificate == "") {
		probs = append(probs, Problem{"AGORA_APP_CERTIFICATE", "AGORA_APP_ID and AGORA_APP_CERTIFICATE must be set together"})
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
