package storetest

import (
	"context"
	"testing"
	"time"

	"roomhub"
)

// AccountStore is a store with the dashboard's accounts.
type AccountStore interface {
	roomhub.Store
	roomhub.Accounts
}

// RunAccounts runs the accounts conformance suite: every method that takes
// an organization is checked from the other organization's side.
func RunAccounts(t *testing.T, open func(t *testing.T) AccountStore) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, AccountStore)
	}{
		{"UsersAndMemberships", testUsersAndMemberships},
		{"CrossOrganization", testAccountsCrossOrg},
		{"TOTPStepAndBackupCodes", testTOTPStepAndBackupCodes},
		{"TokensSingleUseAndExpiry", testTokens},
		{"LoginLockout", testLoginLockout},
		{"SealedSecretsAtomic", testSealedSecrets},
		{"VerifiedDomainUnique", testVerifiedDomain},
		{"UserSessions", testUserSessions},
		{"AuditFilters", testAuditFilters},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

type fixture struct {
	a, b       roomhub.Org
	ada, bert  roomhub.User
	keyA, keyB roomhub.APIKey
	invA, invB roomhub.UserToken
}

func setup(t *testing.T, s AccountStore) fixture {
	t.Helper()
	ctx := context.Background()
	var f fixture
	f.a, f.b = createOrg(t, s, "acme"), createOrg(t, s, "globex")
	var err error
	f.ada, err = s.CreateUser(ctx, roomhub.User{Email: "Ada@Acme.example", Name: "Ada", PasswordHash: "h", CreatedAt: at(0)})
	must(t, err)
	f.bert, err = s.CreateUser(ctx, roomhub.User{Email: "bert@globex.example", Name: "Bert", CreatedAt: at(1)})
	must(t, err)
	must(t, s.AddMembership(ctx, f.a.ID, f.ada.ID, roomhub.RoleOwner))
	must(t, s.AddMembership(ctx, f.b.ID, f.bert.ID, roomhub.RoleViewer))
	f.keyA, err = s.CreateAPIKey(ctx, roomhub.APIKey{OrgID: f.a.ID, Name: "a", Prefix: "rk_a", Hash: "ha", CreatedAt: at(2)})
	must(t, err)
	f.keyB, err = s.CreateAPIKey(ctx, roomhub.APIKey{OrgID: f.b.ID, Name: "b", Prefix: "rk_b", Hash: "hb", CreatedAt: at(3)})
	must(t, err)
	f.invA, err = s.CreateUserToken(ctx, roomhub.UserToken{Kind: roomhub.TokenInvite, OrgID: f.a.ID, Email: "x@acme.example", Role: roomhub.RoleViewer, Hash: "ia", CreatedAt: at(0), ExpiresAt: at(10_000)})
	must(t, err)
	f.invB, err = s.CreateUserToken(ctx, roomhub.UserToken{Kind: roomhub.TokenInvite, OrgID: f.b.ID, Email: "y@globex.example", Role: roomhub.RoleViewer, Hash: "ib", CreatedAt: at(0), ExpiresAt: at(10_000)})
	must(t, err)
	return f
}

func testUsersAndMemberships(t *testing.T, s AccountStore) {
	ctx := context.Background()
	f := setup(t, s)
	if f.ada.Email != "ada@acme.example" {
		t.Fatalf("email not lower-cased: %q", f.ada.Email)
	}
	_, err := s.CreateUser(ctx, roomhub.User{Email: "ADA@acme.example", Name: "Other", CreatedAt: at(5)})
	wantCode(t, err, roomhub.ECONFLICT)
	wantCode(t, s.AddMembership(ctx, f.a.ID, f.ada.ID, roomhub.RoleAdmin), roomhub.ECONFLICT)
	got, err := s.UserByEmail(ctx, "ADA@ACME.EXAMPLE")
	if err != nil || got.ID != f.ada.ID || got.Enrolled() {
		t.Fatalf("UserByEmail: %+v %v", got, err)
	}
	must(t, s.AddMembership(ctx, f.b.ID, f.ada.ID, roomhub.RoleAdmin))
	ms, err := s.ListMemberships(ctx, f.ada.ID)
	if err != nil || len(ms) != 2 || ms[0].OrgSlug != "acme" || ms[1].Role != roomhub.RoleAdmin {
		t.Fatalf("ListMemberships: %+v %v", ms, err)
	}
	users, err := s.ListOrgUsers(ctx, f.b.ID)
	if err != nil || len(users) != 2 || users[0].UserEmail != "ada@acme.example" || users[1].UserEmail != "bert@globex.example" {
		t.Fatalf("ListOrgUsers: %+v %v", users, err)
	}
	if n, _ := s.CountOwners(ctx, f.a.ID); n != 1 {
		t.Fatalf("owners %d", n)
	}
	must(t, s.SetRole(ctx, f.b.ID, f.ada.ID, roomhub.RoleOwner))
	must(t, s.RemoveMembership(ctx, f.b.ID, f.ada.ID))
	_, err = s.Membership(ctx, f.b.ID, f.ada.ID)
	wantCode(t, err, roomhub.ENOTFOUND)
	wantCode(t, s.SetRole(ctx, f.a.ID, f.ada.ID, "god"), roomhub.EINVALID)
}

// testAccountsCrossOrg asks, through organization A, for every kind of
// organization B's object: not found, and B's object is unchanged.
func testAccountsCrossOrg(t *testing.T, s AccountStore) {
	ctx := context.Background()
	f := setup(t, s)
	_, err := s.Membership(ctx, f.a.ID, f.bert.ID)
	wantCode(t, err, roomhub.ENOTFOUND)
	wantCode(t, s.SetRole(ctx, f.a.ID, f.bert.ID, roomhub.RoleOwner), roomhub.ENOTFOUND)
	wantCode(t, s.RemoveMembership(ctx, f.a.ID, f.bert.ID), roomhub.ENOTFOUND)
	wantCode(t, s.RevokeAPIKey(ctx, f.a.ID, f.keyB.ID, at(9)), roomhub.ENOTFOUND)
	wantCode(t, s.RevokeInvitation(ctx, f.a.ID, f.invB.ID), roomhub.ENOTFOUND)
	if m, err := s.Membership(ctx, f.b.ID, f.bert.ID); err != nil || m.Role != roomhub.RoleViewer {
		t.Fatalf("B's membership changed: %+v %v", m, err)
	}
	if k, err := s.APIKeyByHash(ctx, "hb"); err != nil || !k.Active() || k.OrgID != f.b.ID {
		t.Fatalf("B's key changed: %+v %v", k, err)
	}
	if inv, _ := s.ListInvitations(ctx, f.b.ID, at(5)); len(inv) != 1 || inv[0].ID != f.invB.ID {
		t.Fatalf("B's invitation changed: %+v", inv)
	}
	for org, want := range map[int64]int64{f.a.ID: f.keyA.ID, f.b.ID: f.keyB.ID} {
		keys, err := s.ListAPIKeys(ctx, org)
		if err != nil || len(keys) != 1 || keys[0].ID != want {
			t.Fatalf("ListAPIKeys(%d): %+v %v", org, keys, err)
		}
		inv, err := s.ListInvitations(ctx, org, at(5))
		if err != nil || len(inv) != 1 || inv[0].OrgID != org {
			t.Fatalf("ListInvitations(%d): %+v %v", org, inv, err)
		}
		users, err := s.ListOrgUsers(ctx, org)
		if err != nil || len(users) != 1 || users[0].OrgID != org {
			t.Fatalf("ListOrgUsers(%d): %+v %v", org, users, err)
		}
	}
	// Own objects still work.
	must(t, s.RevokeAPIKey(ctx, f.a.ID, f.keyA.ID, at(9)))
	wantCode(t, s.RevokeAPIKey(ctx, f.a.ID, f.keyA.ID, at(10)), roomhub.ENOTFOUND) // already revoked
	must(t, s.RevokeInvitation(ctx, f.a.ID, f.invA.ID))
	if k, _ := s.APIKeyByHash(ctx, "ha"); k.Active() || !k.RevokedAt.Equal(at(9)) {
		t.Fatalf("revoked key: %+v", k)
	}
}

func testTOTPStepAndBackupCodes(t *testing.T, s AccountStore) {
	ctx := context.Background()
	f := setup(t, s)
	must(t, s.SetTOTP(ctx, f.ada.ID, "v1.sealed", []string{"c1", "c2"}))
	for i, tc := range []struct {
		step int64
		ok   bool
	}{{100, true}, {100, false}, {99, false}, {101, true}} {
		if ok, err := s.UseTOTPStep(ctx, f.ada.ID, tc.step); err != nil || ok != tc.ok {
			t.Fatalf("use %d of step %d: %v %v, want %v", i, tc.step, ok, err, tc.ok)
		}
	}
	for i, want := range []bool{true, false} {
		if ok, err := s.UseBackupCode(ctx, f.ada.ID, "c1"); err != nil || ok != want {
			t.Fatalf("backup use %d: %v %v", i, ok, err)
		}
	}
	if ok, _ := s.UseBackupCode(ctx, f.bert.ID, "c2"); ok {
		t.Fatal("another user's backup code worked")
	}
	if n, _ := s.UnusedBackupCodes(ctx, f.ada.ID); n != 1 {
		t.Fatalf("unused %d", n)
	}
	must(t, s.SetTOTP(ctx, f.ada.ID, "", nil))
	u, _ := s.UserByID(ctx, f.ada.ID)
	if u.Enrolled() || u.TOTPLastStep != 0 {
		t.Fatalf("reset left %+v", u)
	}
	if n, _ := s.UnusedBackupCodes(ctx, f.ada.ID); n != 0 {
		t.Fatalf("reset left %d codes", n)
	}
}

func testTokens(t *testing.T, s AccountStore) {
	ctx := context.Background()
	f := setup(t, s)
	got, err := s.UserTokenByHash(ctx, roomhub.TokenInvite, "ia", at(5))
	if err != nil || got.ID != f.invA.ID || got.Email != "x@acme.example" {
		t.Fatalf("by hash: %+v %v", got, err)
	}
	_, err = s.UserTokenByHash(ctx, roomhub.TokenReset, "ia", at(5))
	wantCode(t, err, roomhub.ENOTFOUND)
	_, err = s.UserTokenByHash(ctx, roomhub.TokenInvite, "ia", at(10_000))
	wantCode(t, err, roomhub.ENOTFOUND) // expired
	for i, want := range []bool{true, false} {
		if ok, err := s.UseUserToken(ctx, f.invA.ID, at(6)); err != nil || ok != want {
			t.Fatalf("use %d: %v %v", i, ok, err)
		}
	}
	_, err = s.UserTokenByHash(ctx, roomhub.TokenInvite, "ia", at(7))
	wantCode(t, err, roomhub.ENOTFOUND) // used
}

func testLoginLockout(t *testing.T, s AccountStore) {
	ctx := context.Background()
	if a, err := s.LoginAttempts(ctx, "ada@acme.example", "203.0.113.1"); err != nil || a.Failures != 0 || !a.LockedUntil.IsZero() {
		t.Fatalf("fresh pair: %+v %v", a, err)
	}
	var a roomhub.LoginAttempts
	var err error
	for i := 1; i <= 4; i++ {
		a, err = s.RecordLoginFailure(ctx, "ada@acme.example", "203.0.113.1", 5, time.Hour, at(i))
		if err != nil || a.Failures != i || !a.LockedUntil.IsZero() {
			t.Fatalf("failure %d: %+v %v", i, a, err)
		}
	}
	a, _ = s.RecordLoginFailure(ctx, "ada@acme.example", "203.0.113.1", 5, time.Hour, at(5))
	if a.Failures != 5 || !a.LockedUntil.Equal(at(5).Add(time.Hour)) {
		t.Fatalf("fifth failure: %+v", a)
	}
	a, _ = s.RecordLoginFailure(ctx, "ada@acme.example", "203.0.113.1", 5, time.Hour, at(6))
	if !a.LockedUntil.Equal(at(5).Add(time.Hour)) {
		t.Fatalf("a failure while locked extended or cleared the lock: %+v", a)
	}
	// After the lock: counting starts over; one failure does not lock.
	a, _ = s.RecordLoginFailure(ctx, "ada@acme.example", "203.0.113.1", 5, time.Hour, at(5).Add(time.Hour+time.Second))
	if a.Failures != 1 || !a.LockedUntil.IsZero() {
		t.Fatalf("after the lock expired: %+v", a)
	}
	if other, _ := s.LoginAttempts(ctx, "ada@acme.example", "203.0.113.2"); other.Failures != 0 {
		t.Fatal("another IP shares the count")
	}
	s.RecordLoginFailure(ctx, "bert@globex.example", "203.0.113.1", 5, time.Hour, at(1))
	if n, err := s.ClearLoginAttempts(ctx, "ada@acme.example", ""); err != nil || n != 1 {
		t.Fatalf("clear by email: %d %v", n, err)
	}
	if n, _ := s.ClearLoginAttempts(ctx, "", ""); n != 1 {
		t.Fatalf("clear all: %d", n)
	}
}

func testSealedSecrets(t *testing.T, s AccountStore) {
	ctx := context.Background()
	f := setup(t, s)
	must(t, s.SaveOrgSettings(ctx, roomhub.OrgSettings{OrgID: f.a.ID, AgoraAppID: "app", AgoraCertificate: "v1.cert", UpdatedAt: at(1)}))
	must(t, s.SetTOTP(ctx, f.ada.ID, "v1.totp", nil))
	all, err := s.ListSealedSecrets(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("list: %+v %v", all, err)
	}
	bad := append([]roomhub.SealedSecret{}, all...)
	for i := range bad {
		bad[i].Value = "v1.new"
	}
	bad = append(bad, roomhub.SealedSecret{Table: "users", Column: "totp_secret", ID: 999999, Value: "v1.x"})
	if err := s.ReplaceSealedSecrets(ctx, bad); err == nil {
		t.Fatal("a replace naming an unknown row succeeded")
	}
	if err := s.ReplaceSealedSecrets(ctx, []roomhub.SealedSecret{{Table: "users", Column: "password_hash", ID: f.ada.ID, Value: "x"}}); roomhub.ErrorCode(err) != roomhub.EINVALID {
		t.Fatalf("an unknown column: %v", err)
	}
	if again, _ := s.ListSealedSecrets(ctx); again[0].Value == "v1.new" || again[1].Value == "v1.new" {
		t.Fatal("a failed replace changed values")
	}
	must(t, s.ReplaceSealedSecrets(ctx, bad[:2]))
	if again, _ := s.ListSealedSecrets(ctx); again[0].Value != "v1.new" || again[1].Value != "v1.new" {
		t.Fatalf("replace: %+v", again)
	}
}

func testVerifiedDomain(t *testing.T, s AccountStore) {
	ctx := context.Background()
	f := setup(t, s)
	if st, err := s.OrgSettings(ctx, f.a.ID); err != nil || st.OrgID != f.a.ID || st.SSODomain != "" {
		t.Fatalf("no settings yet: %+v %v", st, err)
	}
	must(t, s.SaveOrgSettings(ctx, roomhub.OrgSettings{OrgID: f.a.ID, SSODomain: "Acme.example", SSODomainVerified: true, SSOAutoProvision: true}))
	wantCode(t, s.SaveOrgSettings(ctx, roomhub.OrgSettings{OrgID: f.b.ID, SSODomain: "acme.example", SSODomainVerified: true}), roomhub.ECONFLICT)
	must(t, s.SaveOrgSettings(ctx, roomhub.OrgSettings{OrgID: f.b.ID, SSODomain: "acme.example"})) // claimed, not verified
	o, st, err := s.OrgByVerifiedDomain(ctx, "ACME.example")
	if err != nil || o.ID != f.a.ID || !st.SSOAutoProvision {
		t.Fatalf("by domain: %+v %+v %v", o, st, err)
	}
	_, _, err = s.OrgByVerifiedDomain(ctx, "globex.example")
	wantCode(t, err, roomhub.ENOTFOUND)
}

func testUserSessions(t *testing.T, s AccountStore) {
	ctx := context.Background()
	f := setup(t, s)
	for _, id := range []string{"s1", "s2"} {
		must(t, s.CreateUserSession(ctx, roomhub.UserSession{ID: id, UserID: f.ada.ID, Verified: id == "s1", CreatedAt: at(0), LastSeen: at(0), ExpiresAt: at(1000), IP: "203.0.113.1", UserAgent: "ua"}))
	}
	must(t, s.CreateUserSession(ctx, roomhub.UserSession{ID: "s3", UserID: f.bert.ID, CreatedAt: at(0), LastSeen: at(0), ExpiresAt: at(1000)}))
	us, err := s.UserSession(ctx, "s1")
	if err != nil || !us.Verified || us.UserID != f.ada.ID || !us.ExpiresAt.Equal(at(1000)) {
		t.Fatalf("session: %+v %v", us, err)
	}
	must(t, s.TouchUserSession(ctx, "s1", at(50)))
	if us, _ := s.UserSession(ctx, "s1"); !us.LastSeen.Equal(at(50)) {
		t.Fatal("touch")
	}
	if n, _ := s.DeleteUserSessions(ctx, f.ada.ID); n != 2 {
		t.Fatalf("deleted %d", n)
	}
	if _, err := s.UserSession(ctx, "s3"); err != nil {
		t.Fatal("another user's session went too")
	}
	if n, _ := s.DeleteAllUserSessions(ctx); n != 1 {
		t.Fatalf("delete all: %d", n)
	}
}

func testAuditFilters(t *testing.T, s AccountStore) {
	ctx := context.Background()
	f := setup(t, s)
	for i, e := range []roomhub.AuditEntry{
		{OrgID: f.a.ID, Action: "login", ActorID: "user:1", ActorName: "ada@acme.example", Success: true},
		{OrgID: f.a.ID, Action: "login.failed", ActorID: "user:1", ActorName: "ada@acme.example"},
		{OrgID: f.a.ID, Action: "logout", ActorID: "user:1", ActorName: "ada@acme.example", Success: true},
		{OrgID: f.a.ID, Action: "login_x%", ActorID: "user:2", ActorName: "eve@acme.example"},
		{OrgID: f.b.ID, Action: "login", ActorID: "user:3", ActorName: "bert@globex.example", Success: true},
	} {
		e.At = at(i * 1000)
		must(t, s.AppendAudit(ctx, e))
	}
	count := func(flt roomhub.AuditFilter) int {
		rows, err := s.QueryAudit(ctx, f.a.ID, flt)
		must(t, err)
		for _, r := range rows {
			if r.OrgID != f.a.ID {
				t.Fatal("another organization's row")
			}
		}
		return len(rows)
	}
	no := false
	for name, tc := range map[string]struct {
		f    roomhub.AuditFilter
		want int
	}{
		"all":                   {roomhub.AuditFilter{}, 4},
		"action and below":      {roomhub.AuditFilter{Action: "login"}, 2},
		"wildcards are literal": {roomhub.AuditFilter{Action: "login_"}, 0},
		"actor by name":         {roomhub.AuditFilter{Actor: "eve@acme.example"}, 1},
		"actor by id":           {roomhub.AuditFilter{Actor: "user:1"}, 3},
		"failures":              {roomhub.AuditFilter{Success: &no}, 2},
		"since":                 {roomhub.AuditFilter{Since: at(1000)}, 3},
		"until":                 {roomhub.AuditFilter{Until: at(1000)}, 1},
		"limit":                 {roomhub.AuditFilter{Limit: 2}, 2},
	} {
		if got := count(tc.f); got != tc.want {
			t.Errorf("%s: %d rows, want %d", name, got, tc.want)
		}
	}
	page1, _ := s.QueryAudit(ctx, f.a.ID, roomhub.AuditFilter{Limit: 2})
	page2, _ := s.QueryAudit(ctx, f.a.ID, roomhub.AuditFilter{Limit: 2, Before: page1[1].ID})
	if len(page2) != 2 || page2[0].ID >= page1[1].ID || page1[0].Action != "login_x%" {
		t.Fatalf("paging: %+v / %+v", page1, page2)
	}
}
