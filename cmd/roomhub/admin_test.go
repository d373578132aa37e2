package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"roomhub"
	"roomhub/secret"
	"roomhub/store/sqlstore"
)

// cli runs a roomhub command against the SQLite store in dir.
func cli(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, envOf(map[string]string{"DATA_DIR": dir}), &out, &errb)
	return code, out.String(), errb.String()
}

// run2 is cli with DEBUG on, so development keys are used.
func run2(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, envOf(map[string]string{"DATA_DIR": dir, "DEBUG": "true"}), &out, &errb)
	return code, out.String(), errb.String()
}

func openDir(t *testing.T, dir string) *sqlstore.Store {
	t.Helper()
	st, err := sqlstore.OpenSQLite(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestOrgAndUserCreate(t *testing.T) {
	dir := t.TempDir()
	if code, out, errs := cli(t, dir, "org", "create", "--slug", "acme", "--name", "Acme Inc"); code != 0 || !strings.Contains(out, "/o/acme/") {
		t.Fatalf("org create: %d %q %q", code, out, errs)
	}
	if code, _, errs := cli(t, dir, "org", "create", "--slug", "acme"); code == 0 || !strings.Contains(errs, "acme") && errs == "" {
		t.Fatalf("a second org with the same slug: %d %q", code, errs)
	}
	code, out, errs := cli(t, dir, "user", "create", "--org", "acme", "--email", "Ada@Acme.example", "--role", "owner")
	if code != 0 || !strings.Contains(out, "/invite/") {
		t.Fatalf("user create: %d %q %q", code, out, errs)
	}
	st := openDir(t, dir)
	o, _ := st.OrgBySlug(context.Background(), "acme")
	inv, err := st.ListInvitations(context.Background(), o.ID, time.Now())
	if err != nil || len(inv) != 1 || inv[0].Email != "ada@acme.example" || inv[0].Role != roomhub.RoleOwner {
		t.Fatalf("invitation stored: %+v %v", inv, err)
	}
	code, out, errs = run2(t, dir, "apikey", "create", "--org", "acme", "--name", "ci")
	if code != 0 || !strings.HasPrefix(out, "rk_") {
		t.Fatalf("apikey create: %d %q %q", code, out, errs)
	}
	for _, bad := range [][]string{
		{"user", "create", "--org", "nope", "--email", "a@b.example", "--role", "owner"},
		{"user", "create", "--org", "acme", "--email", "not-an-email", "--role", "owner"},
		{"user", "create", "--org", "acme", "--email", "a@b.example", "--role", "god"},
	} {
		if code, _, errs := cli(t, dir, bad...); code != 1 || errs == "" {
			t.Errorf("%v: exit %d, stderr %q", bad, code, errs)
		}
	}
}

func TestLockAndSessionsClear(t *testing.T) {
	dir := t.TempDir()
	st := openDir(t, dir)
	ctx := context.Background()
	now := time.Now()
	for _, ip := range []string{"203.0.113.1", "203.0.113.2"} {
		for range 5 {
			if _, err := st.RecordLoginFailure(ctx, "ada@acme.example", ip, 5, time.Hour, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	if code, _, _ := cli(t, dir, "lock", "clear"); code != 1 {
		t.Fatal("lock clear without a target must refuse")
	}
	if code, out, errs := cli(t, dir, "lock", "clear", "--email", "ada@acme.example", "--ip", "203.0.113.1"); code != 0 || !strings.Contains(out, "cleared 1") {
		t.Fatalf("lock clear: %d %q %q", code, out, errs)
	}
	if a, _ := st.LoginAttempts(ctx, "ada@acme.example", "203.0.113.2"); a.LockedUntil.IsZero() {
		t.Fatal("the other pair's lock was cleared too")
	}
	u, err := st.CreateUser(ctx, roomhub.User{Email: "ada@acme.example", Name: "Ada", CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"s1", "s2"} {
		if err := st.CreateUserSession(ctx, roomhub.UserSession{ID: id, UserID: u.ID, Verified: true, CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	def, err := st.DefaultOrg(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutMember(ctx, roomhub.Member{OrgID: def.ID, Room: "standup", UID: 7, Name: "Bob", JoinedAt: now}); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := cli(t, dir, "sessions", "clear"); code != 0 || !strings.Contains(out, "signed out 2 dashboard") || !strings.Contains(out, "removed 1 room member") {
		t.Fatalf("sessions clear: %d %q %q", code, out, errs)
	}
	// Without its member the participant's socket is ended by the node
	// (hub.TestRemovedFromStoreEndsSockets) and cannot renew its token.
	if _, err := st.GetMember(ctx, def.ID, "standup", 7); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
		t.Fatalf("member survived sessions clear: %v", err)
	}
	if _, err := st.UserSession(ctx, "s1"); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
		t.Fatalf("session survived: %v", err)
	}
}

// TestSecretsRotate: after rotation the new key opens every secret and the
// old key opens none; a wrong old key changes nothing.
func TestSecretsRotate(t *testing.T) {
	dir := t.TempDir()
	st := openDir(t, dir)
	ctx := context.Background()
	oldKey, newKey := secret.GenerateKey(), secret.GenerateKey()
	oldBox, _ := secret.New(oldKey)
	newBox, _ := secret.New(newKey)
	o, err := st.CreateOrg(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, roomhub.User{Email: "ada@acme.example", Name: "Ada", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	cert := roomhub.SealedSecret{Table: "org_settings", Column: "agora_certificate", ID: o.ID}
	totp := roomhub.SealedSecret{Table: "users", Column: "totp_secret", ID: u.ID}
	sealedCert, _ := oldBox.Seal("5cfd2fd1755d40ecb72977518be15d3b", secret.AAD(cert))
	sealedTOTP, _ := oldBox.Seal("JBSWY3DPEHPK3PXP", secret.AAD(totp))
	if err := st.SaveOrgSettings(ctx, roomhub.OrgSettings{OrgID: o.ID, AgoraAppID: "970ca35de60c44645bbae8a215061b33", AgoraCertificate: sealedCert}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetTOTP(ctx, u.ID, sealedTOTP, nil); err != nil {
		t.Fatal(err)
	}
	// A webhook endpoint's signing secret is sealed the same way.
	if _, err := st.CreateWebhookEndpoint(ctx, roomhub.WebhookEndpoint{OrgID: o.ID, URL: "https://hooks.example/x", Events: roomhub.WebhookEventTypes, CreatedBy: "ada"},
		func(id int64) (string, error) {
			return oldBox.Seal("whsec_test", secret.AAD(roomhub.SealedSecret{Table: "webhook_endpoints", Column: "secret", ID: id}))
		}); err != nil {
		t.Fatal(err)
	}

	if code, _, errs := cli(t, dir, "secrets", "rotate", "--old-key", newKey, "--new-key", oldKey); code != 1 || !strings.Contains(errs, "nothing changed") {
		t.Fatalf("rotation with the wrong old key: %d %q", code, errs)
	}
	code, out, errs := cli(t, dir, "secrets", "rotate", "--old-key", oldKey, "--new-key", newKey)
	if code != 0 || !strings.Contains(out, "Rotation complete: 3 secrets updated") {
		t.Fatalf("rotate: %d %q %q", code, out, errs)
	}
	all, err := st.ListSealedSecrets(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("sealed secrets after rotation: %v %v", all, err)
	}
	want := map[string]string{"org_settings": "5cfd2fd1755d40ecb72977518be15d3b", "users": "JBSWY3DPEHPK3PXP", "webhook_endpoints": "whsec_test"}
	for _, s := range all {
		got, err := newBox.Open(s.Value, secret.AAD(s))
		if err != nil || got != want[s.Table] {
			t.Errorf("new key opens %s.%s: %q %v", s.Table, s.Column, got, err)
		}
		if _, err := oldBox.Open(s.Value, secret.AAD(s)); err == nil {
			t.Errorf("the old key still opens %s.%s", s.Table, s.Column)
		}
	}
}
