package config

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

const (
	goodKey       = "q8Jx3VbN0pLm7ZcR2tWy5KfH9sDg4AeU1oIi6QwE8rTy0uPl3kMn"
	goodMasterKey = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs="
	goodAPISecret = "Zt4Lk9Qp2Wm7Xc5Vb8Nj3Hg6Fd1Sa0PoIuYtReWq"
)

// secrets fills the key variables a production config needs, unless the
// case sets them (to "-" for unset).
func secrets(m map[string]string) map[string]string {
	for k, v := range map[string]string{"APP_MASTER_KEY": goodMasterKey, "API_KEY_SECRET": goodAPISecret} {
		switch m[k] {
		case "":
			m[k] = v
		case "-":
			delete(m, k)
		}
	}
	return m
}

func TestProductionRefusesInsecureSettings(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		bad  string // the variable the error must name; "" means it loads
	}{
		{"good", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "meet.example.com"}, ""},
		{"no secret", map[string]string{"ALLOWED_HOSTS": "meet.example.com"}, "SECRET_KEY"},
		{"short secret", map[string]string{"SECRET_KEY": "abc123", "ALLOWED_HOSTS": "h"}, "SECRET_KEY"},
		{"placeholder secret", map[string]string{"SECRET_KEY": "django-insecure-" + goodKey, "ALLOWED_HOSTS": "h"}, "SECRET_KEY"},
		{"repetitive secret", map[string]string{"SECRET_KEY": strings.Repeat("ab", 30), "ALLOWED_HOSTS": "h"}, "SECRET_KEY"},
		{"no hosts", map[string]string{"SECRET_KEY": goodKey}, "ALLOWED_HOSTS"},
		{"wildcard host", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS"},
		{"half of agora", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "AGORA_APP_ID": "x"}, "AGORA_APP_CERTIFICATE"},
		{"agora", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "AGORA_APP_ID": strings.Repeat("0a", 16), "AGORA_APP_CERTIFICATE": strings.Repeat("b1", 16)}, ""},
		{"agora app id not hex", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "AGORA_APP_ID": "my-app", "AGORA_APP_CERTIFICATE": strings.Repeat("b1", 16)}, "AGORA_APP_ID"},
		{"agora app id 31 hex", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "AGORA_APP_ID": strings.Repeat("a", 31), "AGORA_APP_CERTIFICATE": strings.Repeat("b1", 16)}, "AGORA_APP_ID"},
		{"agora certificate not hex", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "AGORA_APP_ID": strings.Repeat("0a", 16), "AGORA_APP_CERTIFICATE": strings.Repeat("z", 32)}, "AGORA_APP_CERTIFICATE"},
		{"bad bool", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "DEBUG": "maybe"}, "DEBUG"},
		{"bad ttl", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "AGORA_TOKEN_TTL": "30s"}, "AGORA_TOKEN_TTL"},
		{"bad proxy", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "TRUSTED_PROXIES": "10.0.0.0/33"}, "TRUSTED_PROXIES"},
		{"bad webhook net", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "WEBHOOK_ALLOW_NETS": "10.0.0.0/8,intranet"}, "WEBHOOK_ALLOW_NETS"},
		{"bad cors", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "CORS_ALLOWED_ORIGINS": "app.example.com"}, "CORS_ALLOWED_ORIGINS"},
		{"public profiler", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "PPROF_ADDR": "0.0.0.0:6060"}, "PPROF_ADDR"},
		{"bad redis url", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "REDIS_URL": "localhost:6379"}, "REDIS_URL"},
		{"bad database url", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "DATABASE_URL": "mysql://x"}, "DATABASE_URL"},
		{"node ttl below two heartbeats", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "NODE_HEARTBEAT": "5s", "NODE_TTL": "6s"}, "NODE_TTL"},
		{"bad room limit", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "MAX_ROOM_MEMBERS": "0"}, "MAX_ROOM_MEMBERS"},
		{"bad live stream limit", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "MAX_LIVE_STREAMS": "lots"}, "MAX_LIVE_STREAMS"},
		{"no master key", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "APP_MASTER_KEY": "-"}, "APP_MASTER_KEY"},
		{"short master key", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "APP_MASTER_KEY": "c2hvcnQ="}, "APP_MASTER_KEY"},
		{"no api key secret", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "API_KEY_SECRET": "-"}, "API_KEY_SECRET"},
		{"api key secret is the secret key", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "API_KEY_SECRET": goodKey}, "API_KEY_SECRET"},
		{"short api key secret", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "API_KEY_SECRET": "abc"}, "API_KEY_SECRET"},
		{"lockout limit zero", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "LOCKOUT_LIMIT": "0"}, "LOCKOUT_LIMIT"},
		{"sso id without secret", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "PUBLIC_URL": "https://h", "SSO_GOOGLE_CLIENT_ID": "x"}, "SSO_GOOGLE_CLIENT_ID"},
		{"sso without public url", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "SSO_GITHUB_CLIENT_ID": "x", "SSO_GITHUB_CLIENT_SECRET": "y"}, "PUBLIC_URL"},
		{"oidc without issuer", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "PUBLIC_URL": "https://h", "SSO_OIDC_CLIENT_ID": "x", "SSO_OIDC_CLIENT_SECRET": "y"}, "SSO_OIDC_ISSUER"},
		{"half of agora rest", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "AGORA_CUSTOMER_ID": "x"}, "AGORA_CUSTOMER_SECRET"},
		{"bad agora api url", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "AGORA_API_URL": "api.agora.io"}, "AGORA_API_URL"},
		{"agora rate above agora's", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "AGORA_API_RATE": "11"}, "AGORA_API_RATE"},
		{"zero agora queue", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "AGORA_QUEUE_SIZE": "0"}, "AGORA_QUEUE_SIZE"},
		{"huge notification cap", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "AGORA_NCS_MAX_BYTES": "2000000"}, "AGORA_NCS_MAX_BYTES"},
		{"bad intruder grace", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "AGORA_INTRUDER_GRACE": "soon"}, "AGORA_INTRUDER_GRACE"},
		{"public url with path", map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "PUBLIC_URL": "https://h/app"}, "PUBLIC_URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(env(secrets(tc.env)))
			if tc.bad == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var probs Error
			if !errors.As(err, &probs) || !strings.Contains(err.Error(), tc.bad) {
				t.Fatalf("error %v does not name %s", err, tc.bad)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load(env(map[string]string{"DEBUG": "true"}))
	if err != nil {
		t.Fatalf("DEBUG with nothing else must start: %v", err)
	}
	if c.Addr != ":8080" || c.DataDir != "./data" || c.AgoraTokenTTL != 10*time.Minute ||
		c.AgoraAPIURL != "https://api.agora.io" || c.AgoraAPIRate != 8 || c.AgoraQueueSize != 1000 || c.AgoraNCSMaxBytes != 16384 || c.AgoraIntruderGrace != 5*time.Second || c.MemberGrace != 15*time.Second ||
		c.MaxRoomMembers != 200 || c.MaxLiveStreams != 1000 || c.HSTSSeconds != 0 || c.ShutdownTimeout != 10*time.Second {
		t.Fatalf("defaults %+v", c)
	}
	if strings.Join(c.AllowedHosts, ",") != "localhost,127.0.0.1,[::1]" {
		t.Fatalf("debug hosts %v", c.AllowedHosts)
	}
	if c.LockoutLimit != 5 || c.LockoutDuration != time.Hour || c.InviteTTL != 72*time.Hour {
		t.Fatalf("account defaults %+v", c)
	}
	c, _ = Load(env(secrets(map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "a.example, .b.example", "TRUSTED_PROXIES": "10.0.0.0/8,192.0.2.1", "MEMBER_GRACE": "30"})))
	if c.HSTSSeconds != 31536000 || len(c.AllowedHosts) != 2 || len(c.TrustedProxies) != 2 || c.TrustedProxies[1].String() != "192.0.2.1/32" || c.MemberGrace != 30*time.Second {
		t.Fatalf("parsed %+v", c)
	}
	if len(c.WebhookAllowNets) != 0 {
		t.Fatalf("webhooks may reach %v by default, want no exception to the SSRF rules", c.WebhookAllowNets)
	}
	c, _ = Load(env(secrets(map[string]string{"SECRET_KEY": goodKey, "ALLOWED_HOSTS": "h", "WEBHOOK_ALLOW_NETS": " 10.1.2.0/24 , 127.0.0.1,fd00::/8"})))
	if len(c.WebhookAllowNets) != 3 || c.WebhookAllowNets[0].String() != "10.1.2.0/24" || c.WebhookAllowNets[1].String() != "127.0.0.1/32" || c.WebhookAllowNets[2].String() != "fd00::/8" {
		t.Fatalf("WEBHOOK_ALLOW_NETS parsed as %v", c.WebhookAllowNets)
	}
}

// TestEnvExampleDocumentsEverySetting keeps .env.example complete: every
// variable the code reads has a line there.
func TestEnvExampleDocumentsEverySetting(t *testing.T) {
	example, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	read := regexp.MustCompile(`(?:getenv|boolVar|durVar|intVar)\("([A-Z_]+)"`)
	seen := 0
	for _, src := range []string{"config.go", "../cmd/roomhub/main.go"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range read.FindAllStringSubmatch(string(b), -1) {
			seen++
			if !regexp.MustCompile(`(?m)^` + m[1] + `=`).Match(example) {
				t.Errorf("%s is read by %s but not documented in .env.example", m[1], src)
			}
		}
	}
	if seen < 15 {
		t.Fatalf("found only %d settings; the scan is broken", seen)
	}
}
