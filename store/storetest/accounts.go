package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
		{"LastOwnerUnderConcurrency", testLastOwnerConcurrent},
		{"RevokeTokensIssuedBy", testRevokeTokensIssuedBy},
		{"LastOwnerIsErrLastOwner", testLastOwnerError},
		{"PendingCodeFailures", testPendingCodeFailures},
		{"CrossOrganization", testAccountsCrossOrg},
		{"TOTPStepAndBackupCodes", testTOTPStepAndBackupCodes},
		{"TokensSingleUseAndExpiry", testTokens},
		{"LoginLockout", testLoginLockout},
		{"SealedSecretsAtomic", testSealedSecrets},
		{"VerifiedDomainUnique", testVerifiedDomain},
		{"UserSessions", testUserSessions},
		{"AuditFilters", testAuditFilters},
		{"Orgs", testAccountOrgs},
		{"UserUpdates", testUserUpdates},
		{"MembershipDetails", testMembershipDetails},
		{"APIKeys", testAPIKeys},
		{"Invitations", testInvitations},
		{"OrgSettingsRoundTrip", testOrgSettingsRoundTrip},
		{"LockoutDetails", testLockoutDetails},
		{"SealedSecretsNotResurrected", testSealedSecretsNotResurrected},
		{"AuditFilterDetails", testAuditFilterDetails},
		{"AccountsCancelledContext", testAccountsCancelledContext},
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
	// Ada is B's only owner: she cannot leave or step down until another is.
	wantCode(t, s.RemoveMembership(ctx, f.b.ID, f.ada.ID), roomhub.ECONFLICT)
	wantCode(t, s.SetRole(ctx, f.b.ID, f.ada.ID, roomhub.RoleViewer), roomhub.ECONFLICT)
	must(t, s.SetRole(ctx, f.b.ID, f.bert.ID, roomhub.RoleOwner))
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
	wantCode(t, s.ReplaceSealedSecrets(ctx, bad), roomhub.ECONFLICT) // an unknown row
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
		"percent is literal":    {roomhub.AuditFilter{Action: "log%"}, 0},  // unescaped, "log%.%" matches login.failed
		"underscore is literal": {roomhub.AuditFilter{Action: "logi_"}, 0}, // unescaped, "logi_.%" matches login.failed
		"metacharacters":        {roomhub.AuditFilter{Action: "login_x%"}, 1},
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

func testAccountOrgs(t *testing.T, s AccountStore) {
	ctx := context.Background()
	b, a := createOrg(t, s, "zeta"), createOrg(t, s, "alpha")
	orgs, err := s.ListOrgs(ctx)
	if err != nil || len(orgs) != 2 || orgs[0].ID != b.ID || orgs[1].ID != a.ID || orgs[1].Slug != "alpha" {
		t.Fatalf("ListOrgs, by id: %+v %v", orgs, err)
	}
	got, err := s.OrgByID(ctx, a.ID)
	if err != nil || got.Slug != "alpha" || got.Name != a.Name || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("OrgByID: %+v %v", got, err)
	}
	_, err = s.OrgByID(ctx, a.ID+b.ID+1000)
	wantCode(t, err, roomhub.ENOTFOUND)
}

func testUserUpdates(t *testing.T, s AccountStore) {
	ctx := context.Background()
	f := setup(t, s)
	if !f.ada.CreatedAt.Equal(at(0)) || f.ada.ID == 0 {
		t.Fatalf("CreateUser returned %+v", f.ada)
	}
	got, err := s.UserByID(ctx, f.ada.ID)
	if err != nil || got != f.ada {
		t.Fatalf("UserByID = %+v %v, want %+v", got, err, f.ada)
	}
	_, err = s.UserByEmail(ctx, "nobody@acme.example")
	wantCode(t, err, roomhub.ENOTFOUND)
	_, err = s.UserByID(ctx, f.ada.ID+f.bert.ID+1000)
	wantCode(t, err, roomhub.ENOTFOUND)

	// A zero creation time is stored as 0 and comes back zero.
	z, err := s.CreateUser(ctx, roomhub.User{Email: "zero@acme.example"})
	must(t, err)
	if got, _ := s.UserByID(ctx, z.ID); !got.CreatedAt.IsZero() || !z.CreatedAt.IsZero() {
		t.Fatalf("zero CreatedAt: %v / %v", z.CreatedAt, got.CreatedAt)
	}

	must(t, s.SetPassword(ctx, f.ada.ID, "h2"))
	must(t, s.SetUserName(ctx, f.ada.ID, "Ada L."))
	if got, _ := s.UserByID(ctx, f.ada.ID); got.PasswordHash != "h2" || got.Name != "Ada L." {
		t.Fatalf("updates: %+v", got)
	}
	if got, _ := s.UserByID(ctx, f.bert.ID); got.PasswordHash != "" || got.Name != "Bert" {
		t.Fatalf("another user changed: %+v", got)
	}
	missing := f.ada.ID + f.bert.ID + 1000
	wantCode(t, s.SetPassword(ctx, missing, "h"), roomhub.ENOTFOUND)
	wantCode(t, s.SetUserName(ctx, missing, "x"), roomhub.ENOTFOUND)
	wantCode(t, s.SetTOTP(ctx, missing, "v1.s", []string{"c"}), roomhub.ENOTFOUND)

	// Enrolling again replaces every backup code.
	must(t, s.SetTOTP(ctx, f.ada.ID, "v1.a", []string{"c1", "c2", "c3"}))
	must(t, s.SetTOTP(ctx, f.ada.ID, "v1.b", []string{"d1"}))
	if ok, _ := s.UseBackupCode(ctx, f.ada.ID, "c1"); ok {
		t.Fatal("a replaced backup code worked")
	}
	if n, _ := s.UnusedBackupCodes(ctx, f.ada.ID); n != 1 {
		t.Fatalf("unused after re-enrolment: %d", n)
	}
	if u, _ := s.UserByID(ctx, f.ada.ID); u.TOTPSecret != "v1.b" || !u.Enrolled() {
		t.Fatalf("enrolled: %+v", u)
	}
}

func testMembershipDetails(t *testing.T, s AccountStore) {
	ctx := context.Background()
	f := setup(t, s)
	must(t, s.SetTOTP(ctx, f.bert.ID, "v1.t", nil))
	must(t, s.AddMembership(ctx, f.a.ID, f.bert.ID, roomhub.RoleAdmin))
	m, err := s.Membership(ctx, f.a.ID, f.bert.ID)
	if err != nil || m.OrgID != f.a.ID || m.UserID != f.bert.ID || m.Role != roomhub.RoleAdmin ||
		m.OrgSlug != "acme" || m.OrgName != f.a.Name || m.UserEmail != "bert@globex.example" || m.UserName != "Bert" || !m.UserEnrolled {
		t.Fatalf("Membership: %+v %v", m, err)
	}
	users, err := s.ListOrgUsers(ctx, f.a.ID)
	if err != nil || len(users) != 2 || users[0].UserID != f.ada.ID || users[0].UserEnrolled || !users[1].UserEnrolled {
		t.Fatalf("ListOrgUsers: %+v %v", users, err)
	}
	ms, err := s.ListMemberships(ctx, f.bert.ID)
	if err != nil || len(ms) != 2 {
		t.Fatalf("ListMemberships: %+v %v", ms, err)
	}
	for _, m := range ms {
		if want := map[int64]string{f.a.ID: "acme", f.b.ID: "globex"}[m.OrgID]; m.OrgSlug != want || m.OrgName == "" {
			t.Fatalf("membership of org %d: %+v", m.OrgID, m)
		}
	}
	if ms, err := s.ListMemberships(ctx, f.ada.ID+f.bert.ID+1000); err != nil || len(ms) != 0 {
		t.Fatalf("memberships of nobody: %+v %v", ms, err)
	}

	// Roles: validated, counted per organization.
	wantCode(t, s.AddMembership(ctx, f.b.ID, f.ada.ID, "root"), roomhub.EINVALID)
	wantCode(t, s.AddMembership(ctx, f.a.ID+f.b.ID+1000, f.ada.ID, roomhub.RoleViewer), roomhub.ENOTFOUND)
	wantCode(t, s.AddMembership(ctx, f.a.ID, f.ada.ID+f.bert.ID+1000, roomhub.RoleViewer), roomhub.ENOTFOUND)
	must(t, s.SetRole(ctx, f.a.ID, f.bert.ID, roomhub.RoleOwner))
	for org, want := range map[int64]int{f.a.ID: 2, f.b.ID: 0} {
		if n, err := s.CountOwners(ctx, org); err != nil || n != want {
			t.Fatalf("CountOwners(%d) = %d %v, want %d", org, n, err, want)
		}
	}
	if m, _ := s.Membership(ctx, f.b.ID, f.bert.ID); m.Role != roomhub.RoleViewer {
		t.Fatalf("SetRole in A changed the role in B: %+v", m)
	}
	must(t, s.RemoveMembership(ctx, f.a.ID, f.bert.ID))
	wantCode(t, s.RemoveMembership(ctx, f.a.ID, f.bert.ID), roomhub.ENOTFOUND)
	if _, err := s.Membership(ctx, f.b.ID, f.bert.ID); err != nil {
		t.Fatalf("removal from A removed from B: %v", err)
	}
}

func testAPIKeys(t *testing.T, s AccountStore) {
	ctx := context.Background()
	f := setup(t, s)
	if !f.keyA.Active() || !f.keyA.LastUsed.IsZero() || !f.keyA.CreatedAt.Equal(at(2)) || f.keyA.OrgID != f.a.ID {
		t.Fatalf("CreateAPIKey returned %+v", f.keyA)
	}
	k2, err := s.CreateAPIKey(ctx, roomhub.APIKey{OrgID: f.a.ID, Name: "second", Prefix: "rk_c", Hash: "hc", CreatedBy: f.ada.ID, CreatedAt: at(20)})
	must(t, err)
	_, err = s.CreateAPIKey(ctx, roomhub.APIKey{OrgID: f.a.ID + f.b.ID + 1000, Name: "x", Prefix: "rk_x", Hash: "hx", CreatedAt: at(20)})
	wantCode(t, err, roomhub.ENOTFOUND)
	must(t, s.RevokeAPIKey(ctx, f.a.ID, f.keyA.ID, at(30)))
	must(t, s.TouchAPIKey(ctx, k2.ID, at(40)))

	keys, err := s.ListAPIKeys(ctx, f.a.ID)
	if err != nil || len(keys) != 2 || keys[0].ID != k2.ID || keys[1].ID != f.keyA.ID {
		t.Fatalf("ListAPIKeys, newest first with the revoked: %+v %v", keys, err)
	}
	if k := keys[0]; !k.Active() || !k.LastUsed.Equal(at(40)) || k.Name != "second" || k.Prefix != "rk_c" || k.CreatedBy != f.ada.ID {
		t.Fatalf("touched key: %+v", k)
	}
	if k := keys[1]; k.Active() || !k.RevokedAt.Equal(at(30)) || !k.LastUsed.IsZero() {
		t.Fatalf("revoked key: %+v", k)
	}
	// The revoked key is still found by its hash: the caller refuses it.
	if k, err := s.APIKeyByHash(ctx, "ha"); err != nil || k.ID != f.keyA.ID || k.Active() {
		t.Fatalf("APIKeyByHash of a revoked key: %+v %v", k, err)
	}
	_, err = s.APIKeyByHash(ctx, "nope")
	wantCode(t, err, roomhub.ENOTFOUND)
	if keys, err := s.ListAPIKeys(ctx, f.a.ID+f.b.ID+1000); err != nil || len(keys) != 0 {
		t.Fatalf("keys of no organization: %+v %v", keys, err)
	}
	if k, _ := s.APIKeyByHash(ctx, "hb"); !k.Active() || !k.LastUsed.IsZero() {
		t.Fatalf("B's key changed: %+v", k)
	}
}

func testInvitations(t *testing.T, s AccountStore) {
	ctx := context.Background()
	f := setup(t, s)
	inv, err := s.CreateUserToken(ctx, roomhub.UserToken{Kind: roomhub.TokenInvite, OrgID: f.a.ID, Email: "New@Acme.example", Role: roomhub.RoleAdmin,
		Hash: "i2", CreatedBy: f.ada.ID, CreatedAt: at(100), ExpiresAt: at(200)})
	must(t, err)
	if inv.Email != "new@acme.example" || !inv.UsedAt.IsZero() || !inv.ExpiresAt.Equal(at(200)) {
		t.Fatalf("CreateUserToken returned %+v", inv)
	}
	got, err := s.UserTokenByHash(ctx, roomhub.TokenInvite, "i2", at(150))
	if err != nil || got != inv {
		t.Fatalf("UserTokenByHash = %+v %v, want %+v", got, err, inv)
	}
	_, err = s.UserTokenByHash(ctx, roomhub.TokenInvite, "i2", at(200)) // expires_at is exclusive
	wantCode(t, err, roomhub.ENOTFOUND)
	reset, err := s.CreateUserToken(ctx, roomhub.UserToken{Kind: roomhub.TokenReset, OrgID: f.a.ID, Email: "ada@acme.example", UserID: f.ada.ID,
		Hash: "r1", CreatedAt: at(100), ExpiresAt: at(10_000)})
	must(t, err)
	if got, err := s.UserTokenByHash(ctx, roomhub.TokenReset, "r1", at(150)); err != nil || got.UserID != f.ada.ID {
		t.Fatalf("reset token: %+v %v", got, err)
	}
	_, err = s.CreateUserToken(ctx, roomhub.UserToken{Kind: roomhub.TokenInvite, OrgID: f.a.ID + f.b.ID + 1000, Hash: "i9", ExpiresAt: at(10_000)})
	wantCode(t, err, roomhub.ENOTFOUND)

	// Newest first; only unused, unexpired invitations of the organization.
	list, err := s.ListInvitations(ctx, f.a.ID, at(150))
	if err != nil || len(list) != 2 || list[0].ID != inv.ID || list[1].ID != f.invA.ID {
		t.Fatalf("ListInvitations: %+v %v", list, err)
	}
	if list, _ := s.ListInvitations(ctx, f.a.ID, at(200)); len(list) != 1 || list[0].ID != f.invA.ID {
		t.Fatalf("expired invitation listed: %+v", list)
	}
	if ok, err := s.UseUserToken(ctx, f.invA.ID, at(160)); err != nil || !ok {
		t.Fatalf("use: %v %v", ok, err)
	}
	if list, _ := s.ListInvitations(ctx, f.a.ID, at(170)); len(list) != 1 || list[0].ID != inv.ID {
		t.Fatalf("used invitation listed: %+v", list)
	}
	wantCode(t, s.RevokeInvitation(ctx, f.a.ID, f.invA.ID), roomhub.ENOTFOUND) // already used
	wantCode(t, s.RevokeInvitation(ctx, f.a.ID, reset.ID), roomhub.ENOTFOUND)  // not an invitation
	wantCode(t, s.RevokeInvitation(ctx, f.b.ID, inv.ID), roomhub.ENOTFOUND)    // another organization's
	if _, err := s.UserTokenByHash(ctx, roomhub.TokenInvite, "i2", at(170)); err != nil {
		t.Fatalf("B revoked A's invitation: %v", err)
	}
	must(t, s.RevokeInvitation(ctx, f.a.ID, inv.ID))
	_, err = s.UserTokenByHash(ctx, roomhub.TokenInvite, "i2", at(170))
	wantCode(t, err, roomhub.ENOTFOUND)
	if ok, _ := s.UseUserToken(ctx, inv.ID, at(171)); ok {
		t.Fatal("a revoked invitation was used")
	}
	if list, _ := s.ListInvitations(ctx, f.b.ID, at(170)); len(list) != 1 || list[0].ID != f.invB.ID {
		t.Fatalf("B's invitations changed: %+v", list)
	}
}

func testOrgSettingsRoundTrip(t *testing.T, s AccountStore) {
	ctx := context.Background()
	f := setup(t, s)
	want := roomhub.OrgSettings{OrgID: f.a.ID, AgoraAppID: "app", AgoraCertificate: "v1.cert", SSODomain: "acme.example",
		SSODomainVerified: true, SSOAutoProvision: true, UpdatedAt: at(5)}
	must(t, s.SaveOrgSettings(ctx, want))
	if got, err := s.OrgSettings(ctx, f.a.ID); err != nil || got != want {
		t.Fatalf("OrgSettings = %+v %v, want %+v", got, err, want)
	}
	if got, err := s.OrgSettings(ctx, f.b.ID); err != nil || got != (roomhub.OrgSettings{OrgID: f.b.ID}) {
		t.Fatalf("B's settings: %+v %v", got, err)
	}
	// The upsert replaces every field.
	want = roomhub.OrgSettings{OrgID: f.a.ID, SSODomain: "acme.example", UpdatedAt: at(6)}
	must(t, s.SaveOrgSettings(ctx, want))
	if got, _ := s.OrgSettings(ctx, f.a.ID); got != want {
		t.Fatalf("after update %+v, want %+v", got, want)
	}
	wantCode(t, s.SaveOrgSettings(ctx, roomhub.OrgSettings{OrgID: f.a.ID + f.b.ID + 1000}), roomhub.ENOTFOUND)

	// A gave the domain up: B may verify it, and A can no longer.
	must(t, s.SaveOrgSettings(ctx, roomhub.OrgSettings{OrgID: f.b.ID, SSODomain: "acme.example", SSODomainVerified: true}))
	wantCode(t, s.SaveOrgSettings(ctx, roomhub.OrgSettings{OrgID: f.a.ID, SSODomain: "acme.example", SSODomainVerified: true}), roomhub.ECONFLICT)
	if got, _ := s.OrgSettings(ctx, f.a.ID); got != want {
		t.Fatalf("a refused save changed A: %+v", got)
	}
	// Saving B again (same verified domain) is not a conflict with itself.
	must(t, s.SaveOrgSettings(ctx, roomhub.OrgSettings{OrgID: f.b.ID, SSODomain: "acme.example", SSODomainVerified: true, SSOAutoProvision: true}))
	if o, _, err := s.OrgByVerifiedDomain(ctx, "acme.example"); err != nil || o.ID != f.b.ID {
		t.Fatalf("by domain: %+v %v", o, err)
	}
	// Verified with no domain matches no SSO user.
	must(t, s.SaveOrgSettings(ctx, roomhub.OrgSettings{OrgID: f.a.ID, SSODomainVerified: true}))
	_, _, err := s.OrgByVerifiedDomain(ctx, "")
	wantCode(t, err, roomhub.ENOTFOUND)
}

func testLockoutDetails(t *testing.T, s AccountStore) {
	ctx := context.Background()
	const ip1, ip2 = "203.0.113.1", "203.0.113.2"
	// Limit 1: the first failure locks.
	a, err := s.RecordLoginFailure(ctx, "a@x.example", ip1, 1, time.Minute, at(0))
	if err != nil || a.Failures != 1 || !a.LockedUntil.Equal(at(0).Add(time.Minute)) || !a.UpdatedAt.Equal(at(0)) {
		t.Fatalf("limit 1: %+v %v", a, err)
	}
	// The email is compared as users.email is stored, lower-cased.
	a, _ = s.RecordLoginFailure(ctx, "B@X.example", ip1, 3, time.Minute, at(0))
	a, _ = s.RecordLoginFailure(ctx, "b@x.example", ip1, 3, time.Minute, at(1))
	if got, _ := s.LoginAttempts(ctx, "b@X.EXAMPLE", ip1); a.Failures != 2 || got.Failures != 2 || got.Email != "b@x.example" {
		t.Fatalf("case of the email: %+v / %+v", a, got)
	}
	// A failure exactly when the lock ends counts from 1 again.
	a, _ = s.RecordLoginFailure(ctx, "a@x.example", ip1, 1, time.Minute, at(0).Add(time.Minute))
	if a.Failures != 1 || !a.LockedUntil.Equal(at(0).Add(2*time.Minute)) {
		t.Fatalf("limit 1 after the lock: %+v", a)
	}
	s.RecordLoginFailure(ctx, "a@x.example", ip2, 5, time.Minute, at(0))
	s.RecordLoginFailure(ctx, "c@x.example", ip2, 5, time.Minute, at(0))
	if n, err := s.ClearLoginAttempts(ctx, "", ip1); err != nil || n != 2 {
		t.Fatalf("clear by ip: %d %v", n, err)
	}
	if a, _ := s.LoginAttempts(ctx, "a@x.example", ip2); a.Failures != 1 {
		t.Fatalf("clearing ip1 cleared ip2: %+v", a)
	}
	if n, _ := s.ClearLoginAttempts(ctx, "A@x.example", ip2); n != 1 {
		t.Fatalf("clear the pair: %d", n)
	}
	if n, _ := s.ClearLoginAttempts(ctx, "nobody@x.example", ""); n != 0 {
		t.Fatalf("clear of nothing: %d", n)
	}
	if a, _ := s.LoginAttempts(ctx, "c@x.example", ip2); a.Failures != 1 {
		t.Fatalf("c's count: %+v", a)
	}
}

// testSealedSecretsNotResurrected: a secret cleared between listing and
// replacing (a second factor reset meanwhile) makes the rotation fail as a
// whole instead of writing the old secret back.
func testSealedSecretsNotResurrected(t *testing.T, s AccountStore) {
	ctx := context.Background()
	f := setup(t, s)
	must(t, s.SaveOrgSettings(ctx, roomhub.OrgSettings{OrgID: f.b.ID, AgoraCertificate: "v1.cert"}))
	must(t, s.SetTOTP(ctx, f.ada.ID, "v1.ada", nil))
	must(t, s.SetTOTP(ctx, f.bert.ID, "v1.bert", nil))
	all, err := s.ListSealedSecrets(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("list: %+v %v", all, err)
	}
	want := map[roomhub.SealedSecret]bool{
		{Table: "org_settings", Column: "agora_certificate", ID: f.b.ID, Value: "v1.cert"}: true,
		{Table: "users", Column: "totp_secret", ID: f.ada.ID, Value: "v1.ada"}:             true,
		{Table: "users", Column: "totp_secret", ID: f.bert.ID, Value: "v1.bert"}:           true,
	}
	for _, sec := range all {
		if !want[sec] {
			t.Fatalf("unexpected secret %+v in %+v", sec, all)
		}
	}
	for i := range all {
		all[i].Value = "v2." + all[i].Value
	}
	must(t, s.SetTOTP(ctx, f.bert.ID, "", nil)) // reset meanwhile
	wantCode(t, s.ReplaceSealedSecrets(ctx, all), roomhub.ECONFLICT)
	if u, _ := s.UserByID(ctx, f.bert.ID); u.Enrolled() {
		t.Fatalf("rotation re-enrolled a reset user: %+v", u)
	}
	if u, _ := s.UserByID(ctx, f.ada.ID); u.TOTPSecret != "v1.ada" {
		t.Fatalf("a failed rotation changed another secret: %+v", u)
	}
	if st, _ := s.OrgSettings(ctx, f.b.ID); st.AgoraCertificate != "v1.cert" {
		t.Fatalf("a failed rotation changed the certificate: %+v", st)
	}
	wantCode(t, s.ReplaceSealedSecrets(ctx, []roomhub.SealedSecret{{Table: "orgs", Column: "name", ID: f.a.ID, Value: "x"}}), roomhub.EINVALID)
	wantCode(t, s.ReplaceSealedSecrets(ctx, []roomhub.SealedSecret{{Table: "users", Column: "totp_secret", ID: f.ada.ID}}), roomhub.EINVALID)
	must(t, s.ReplaceSealedSecrets(ctx, nil))
}

func testAuditFilterDetails(t *testing.T, s AccountStore) {
	ctx := context.Background()
	f := setup(t, s)
	yes, no := true, false
	for i := range 120 {
		e := roomhub.AuditEntry{OrgID: f.a.ID, At: at(i * 10), Action: "apikey.create", ActorID: "user:1", ActorName: "Ada", Success: i%2 == 0}
		if i%3 == 0 {
			e.Action, e.ActorID, e.ActorName = "login.failed", "user:2", "Ada Lovelace"
		}
		must(t, s.AppendAudit(ctx, e))
		e.OrgID = f.b.ID
		must(t, s.AppendAudit(ctx, e))
	}
	query := func(flt roomhub.AuditFilter) []roomhub.AuditEntry {
		t.Helper()
		rows, err := s.QueryAudit(ctx, f.a.ID, flt)
		must(t, err)
		for i, r := range rows {
			if r.OrgID != f.a.ID {
				t.Fatalf("row of organization %d", r.OrgID)
			}
			if i > 0 && r.ID >= rows[i-1].ID {
				t.Fatalf("not newest first: %d after %d", r.ID, rows[i-1].ID)
			}
		}
		return rows
	}
	if n := len(query(roomhub.AuditFilter{})); n != 100 {
		t.Errorf("default limit: %d rows, want 100", n)
	}
	if n := len(query(roomhub.AuditFilter{Limit: 1_000_000})); n != 120 {
		t.Errorf("a large limit: %d rows, want 120", n)
	}
	if n := len(query(roomhub.AuditFilter{Actor: "Ada"})); n != 80 {
		t.Errorf("actor is exact, not a substring: %d rows, want 80", n)
	}
	if n := len(query(roomhub.AuditFilter{Actor: "user:2", Action: "login", Success: &yes})); n != 20 {
		t.Errorf("filters combine: %d rows, want 20", n)
	}
	if n := len(query(roomhub.AuditFilter{Success: &no, Limit: 1000})); n != 60 {
		t.Errorf("failures: %d rows, want 60", n)
	}
	if rows := query(roomhub.AuditFilter{Since: at(100), Until: at(200)}); len(rows) != 10 || !rows[0].At.Equal(at(190)) || !rows[9].At.Equal(at(100)) {
		t.Errorf("since inclusive, until exclusive: %d rows", len(rows))
	}
	// Paging with a filter walks every matching row once.
	seen := map[int64]bool{}
	var before int64
	for page := 0; ; page++ {
		rows := query(roomhub.AuditFilter{Action: "login.failed", Limit: 7, Before: before})
		if len(rows) == 0 {
			break
		}
		if page > 10 {
			t.Fatal("paging does not end")
		}
		for _, r := range rows {
			if seen[r.ID] || r.Action != "login.failed" {
				t.Fatalf("row %+v twice or unfiltered", r)
			}
			seen[r.ID] = true
		}
		before = rows[len(rows)-1].ID
	}
	if len(seen) != 40 {
		t.Errorf("paging saw %d rows, want 40", len(seen))
	}
	// Paging from B's ids through A still shows only A's rows.
	bRows, _ := s.QueryAudit(ctx, f.b.ID, roomhub.AuditFilter{Limit: 1})
	if rows := query(roomhub.AuditFilter{Before: bRows[0].ID + 1, Limit: 1000}); len(rows) != 120 {
		t.Errorf("A's rows before B's newest: %d", len(rows))
	}
}

// testAccountsCancelledContext: a cancelled context is an error wrapping
// context.Canceled from every method, never a result, ENOTFOUND, or the
// "zero row" some lookups return for a missing row.
func testAccountsCancelledContext(t *testing.T, s AccountStore) {
	live := context.Background()
	f := setup(t, s)
	must(t, s.CreateUserSession(live, roomhub.UserSession{ID: "s1", UserID: f.ada.ID, ExpiresAt: at(1000)}))
	ctx, cancel := context.WithCancel(live)
	cancel()
	calls := map[string]func() error{
		"ListOrgs":    func() error { _, err := s.ListOrgs(ctx); return err },
		"OrgByID":     func() error { _, err := s.OrgByID(ctx, f.a.ID); return err },
		"CreateUser":  func() error { _, err := s.CreateUser(ctx, roomhub.User{Email: "new@x.example"}); return err },
		"UserByEmail": func() error { _, err := s.UserByEmail(ctx, "ada@acme.example"); return err },
		"UserByID":    func() error { _, err := s.UserByID(ctx, f.ada.ID); return err },
		"SetPassword": func() error { return s.SetPassword(ctx, f.ada.ID, "x") },
		"SetUserName": func() error { return s.SetUserName(ctx, f.ada.ID, "x") },
		"SetTOTP":     func() error { return s.SetTOTP(ctx, f.ada.ID, "v1.x", []string{"c"}) },
		"UseTOTPStep": func() error { _, err := s.UseTOTPStep(ctx, f.ada.ID, 5); return err },
		"UseBackupCode": func() error {
			_, err := s.UseBackupCode(ctx, f.ada.ID, "c")
			return err
		},
		"UnusedBackupCodes":   func() error { _, err := s.UnusedBackupCodes(ctx, f.ada.ID); return err },
		"AddMembership":       func() error { return s.AddMembership(ctx, f.b.ID, f.ada.ID, roomhub.RoleViewer) },
		"Membership":          func() error { _, err := s.Membership(ctx, f.a.ID, f.ada.ID); return err },
		"ListMemberships":     func() error { _, err := s.ListMemberships(ctx, f.ada.ID); return err },
		"ListOrgUsers":        func() error { _, err := s.ListOrgUsers(ctx, f.a.ID); return err },
		"SetRole":             func() error { return s.SetRole(ctx, f.a.ID, f.ada.ID, roomhub.RoleViewer) },
		"RemoveMembership":    func() error { return s.RemoveMembership(ctx, f.a.ID, f.ada.ID) },
		"CountOwners":         func() error { _, err := s.CountOwners(ctx, f.a.ID); return err },
		"OrgSettings":         func() error { _, err := s.OrgSettings(ctx, f.a.ID); return err },
		"SaveOrgSettings":     func() error { return s.SaveOrgSettings(ctx, roomhub.OrgSettings{OrgID: f.a.ID, AgoraAppID: "x"}) },
		"OrgByVerifiedDomain": func() error { _, _, err := s.OrgByVerifiedDomain(ctx, "acme.example"); return err },
		"ListSealedSecrets":   func() error { _, err := s.ListSealedSecrets(ctx); return err },
		"ReplaceSealedSecrets": func() error {
			return s.ReplaceSealedSecrets(ctx, []roomhub.SealedSecret{{Table: "users", Column: "totp_secret", ID: f.ada.ID, Value: "v1.x"}})
		},
		"CreateUserToken": func() error {
			_, err := s.CreateUserToken(ctx, roomhub.UserToken{Kind: roomhub.TokenInvite, OrgID: f.a.ID, Hash: "new", ExpiresAt: at(10_000)})
			return err
		},
		"UserTokenByHash":       func() error { _, err := s.UserTokenByHash(ctx, roomhub.TokenInvite, "ia", at(5)); return err },
		"UseUserToken":          func() error { _, err := s.UseUserToken(ctx, f.invA.ID, at(5)); return err },
		"ListInvitations":       func() error { _, err := s.ListInvitations(ctx, f.a.ID, at(5)); return err },
		"RevokeInvitation":      func() error { return s.RevokeInvitation(ctx, f.a.ID, f.invA.ID) },
		"CreateUserSession":     func() error { return s.CreateUserSession(ctx, roomhub.UserSession{ID: "s2", UserID: f.ada.ID}) },
		"UserSession":           func() error { _, err := s.UserSession(ctx, "s1"); return err },
		"TouchUserSession":      func() error { return s.TouchUserSession(ctx, "s1", at(5)) },
		"DeleteUserSession":     func() error { return s.DeleteUserSession(ctx, "s1") },
		"DeleteUserSessions":    func() error { _, err := s.DeleteUserSessions(ctx, f.ada.ID); return err },
		"DeleteAllUserSessions": func() error { _, err := s.DeleteAllUserSessions(ctx); return err },
		"RecordCodeFailure":     func() error { _, err := s.RecordCodeFailure(ctx, "s1"); return err },
		"RevokeTokensIssuedBy":  func() error { _, err := s.RevokeTokensIssuedBy(ctx, f.a.ID, f.ada.ID); return err },
		"LoginAttempts":         func() error { _, err := s.LoginAttempts(ctx, "ada@acme.example", "203.0.113.1"); return err },
		"RecordLoginFailure": func() error {
			_, err := s.RecordLoginFailure(ctx, "ada@acme.example", "203.0.113.1", 5, time.Hour, at(5))
			return err
		},
		"ClearLoginAttempts": func() error { _, err := s.ClearLoginAttempts(ctx, "", ""); return err },
		"CreateAPIKey": func() error {
			_, err := s.CreateAPIKey(ctx, roomhub.APIKey{OrgID: f.a.ID, Hash: "new", CreatedAt: at(5)})
			return err
		},
		"ListAPIKeys":  func() error { _, err := s.ListAPIKeys(ctx, f.a.ID); return err },
		"APIKeyByHash": func() error { _, err := s.APIKeyByHash(ctx, "ha"); return err },
		"RevokeAPIKey": func() error { return s.RevokeAPIKey(ctx, f.a.ID, f.keyA.ID, at(5)) },
		"TouchAPIKey":  func() error { return s.TouchAPIKey(ctx, f.keyA.ID, at(5)) },
		"QueryAudit":   func() error { _, err := s.QueryAudit(ctx, f.a.ID, roomhub.AuditFilter{}); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			if !errors.Is(err, context.Canceled) || roomhub.ErrorCode(err) != roomhub.EUNAVAILABLE {
				t.Errorf("err = %v (code %q), want EUNAVAILABLE wrapping context.Canceled", err, roomhub.ErrorCode(err))
			}
		})
	}
	// Nothing was written.
	if u, _ := s.UserByID(live, f.ada.ID); u.PasswordHash != "h" || u.Enrolled() {
		t.Errorf("user changed under a cancelled context: %+v", u)
	}
	if _, err := s.UserSession(live, "s1"); err != nil {
		t.Errorf("session deleted under a cancelled context: %v", err)
	}
	if k, _ := s.APIKeyByHash(live, "ha"); !k.Active() {
		t.Errorf("key revoked under a cancelled context")
	}
	if m, _ := s.Membership(live, f.a.ID, f.ada.ID); m.Role != roomhub.RoleOwner {
		t.Errorf("membership changed under a cancelled context: %+v", m)
	}
}

// testLastOwnerConcurrent: two owners demote each other, or remove each
// other, at the same moment, many times over; the organization always keeps
// an owner, and the refused change is ECONFLICT.
func testLastOwnerConcurrent(t *testing.T, s AccountStore) {
	ctx := context.Background()
	o, err := s.CreateOrg(ctx, "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	var ids [2]int64
	for i := range ids {
		u, err := s.CreateUser(ctx, roomhub.User{Email: fmt.Sprintf("owner%d@acme.example", i), Name: "O", PasswordHash: "x", CreatedAt: at(0)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = u.ID
	}
	for round := range 10 {
		for _, id := range ids {
			if _, err := s.Membership(ctx, o.ID, id); err == nil {
				must(t, s.SetRole(ctx, o.ID, id, roomhub.RoleOwner))
			} else {
				must(t, s.AddMembership(ctx, o.ID, id, roomhub.RoleOwner))
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, id := range ids {
			wg.Go(func() {
				if round%2 == 0 {
					errs[i] = s.SetRole(ctx, o.ID, id, roomhub.RoleAdmin)
				} else {
					errs[i] = s.RemoveMembership(ctx, o.ID, id)
				}
			})
		}
		wg.Wait()
		if n, err := s.CountOwners(ctx, o.ID); err != nil || n != 1 {
			t.Fatalf("round %d: %d owners left (%v); errors %v", round, n, err, errs)
		}
		refused := 0
		for _, err := range errs {
			if err != nil {
				if !errors.Is(err, roomhub.ErrLastOwner) {
					t.Fatalf("round %d: refused with %v, want roomhub.ErrLastOwner", round, err)
				}
				refused++
			}
		}
		if refused != 1 {
			t.Fatalf("round %d: %d changes refused, want 1: %v", round, refused, errs)
		}
	}
}

// testRevokeTokensIssuedBy spends the unused links one user issued in one
// organization, and nothing else.
func testRevokeTokensIssuedBy(t *testing.T, s AccountStore) {
	ctx := context.Background()
	f := setup(t, s)
	mk := func(org int64, by int64, kind roomhub.TokenKind, hash string) roomhub.UserToken {
		tok, err := s.CreateUserToken(ctx, roomhub.UserToken{Kind: kind, OrgID: org, Email: hash + "@x.example", Role: roomhub.RoleViewer,
			Hash: hash, CreatedBy: by, CreatedAt: at(0), ExpiresAt: at(10_000)})
		must(t, err)
		return tok
	}
	adaInA := []roomhub.UserToken{mk(f.a.ID, f.ada.ID, roomhub.TokenInvite, "t1"), mk(f.a.ID, f.ada.ID, roomhub.TokenReset, "t2")}
	adaInB := mk(f.b.ID, f.ada.ID, roomhub.TokenInvite, "t3")
	bertInA := mk(f.a.ID, f.bert.ID, roomhub.TokenInvite, "t4")
	n, err := s.RevokeTokensIssuedBy(ctx, f.a.ID, f.ada.ID)
	if err != nil || n != 2 {
		t.Fatalf("revoked %d, %v; want 2", n, err)
	}
	for _, tok := range adaInA {
		if ok, _ := s.UseUserToken(ctx, tok.ID, at(1)); ok {
			t.Fatalf("revoked token %s still usable", tok.Hash)
		}
	}
	for _, tok := range []roomhub.UserToken{adaInB, bertInA} {
		if ok, err := s.UseUserToken(ctx, tok.ID, at(1)); !ok || err != nil {
			t.Fatalf("token %s was revoked too: %v", tok.Hash, err)
		}
	}
}

// testLastOwnerError: taking away an organization's only owner, by role or
// by removal, is roomhub.ErrLastOwner (a 409 with its message in the
// dashboard), and changes nothing; so is a demotion that would leave no
// owner because the other owner is in another organization only. Another
// organization's owners do not count.
func testLastOwnerError(t *testing.T, s AccountStore) {
	ctx := context.Background()
	f := setup(t, s)
	// Bert owns B; Ada owns A. Neither is the other organization's owner.
	must(t, s.SetRole(ctx, f.b.ID, f.bert.ID, roomhub.RoleOwner))
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"demote to admin", func() error { return s.SetRole(ctx, f.a.ID, f.ada.ID, roomhub.RoleAdmin) }},
		{"demote to viewer", func() error { return s.SetRole(ctx, f.a.ID, f.ada.ID, roomhub.RoleViewer) }},
		{"remove", func() error { return s.RemoveMembership(ctx, f.a.ID, f.ada.ID) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if !errors.Is(err, roomhub.ErrLastOwner) || roomhub.ErrorCode(err) != roomhub.ECONFLICT {
				t.Fatalf("err = %v, want roomhub.ErrLastOwner (ECONFLICT)", err)
			}
			if m, err := s.Membership(ctx, f.a.ID, f.ada.ID); err != nil || m.Role != roomhub.RoleOwner {
				t.Fatalf("the refused change changed Ada: %+v %v", m, err)
			}
		})
	}
	// Owner to owner is no loss; a second owner frees the first.
	must(t, s.SetRole(ctx, f.a.ID, f.ada.ID, roomhub.RoleOwner))
	must(t, s.AddMembership(ctx, f.a.ID, f.bert.ID, roomhub.RoleOwner))
	must(t, s.SetRole(ctx, f.a.ID, f.ada.ID, roomhub.RoleViewer))
	if err := s.RemoveMembership(ctx, f.a.ID, f.bert.ID); !errors.Is(err, roomhub.ErrLastOwner) {
		t.Fatalf("removing the new last owner: %v", err)
	}
	if m, err := s.Membership(ctx, f.b.ID, f.bert.ID); err != nil || m.Role != roomhub.RoleOwner {
		t.Fatalf("B's owner changed: %+v %v", m, err)
	}
}

// testPendingCodeFailures: wrong second-factor codes are counted per
// pending session, atomically, and only for pending sessions.
func testPendingCodeFailures(t *testing.T, s AccountStore) {
	ctx := context.Background()
	f := setup(t, s)
	must(t, s.CreateUserSession(ctx, roomhub.UserSession{ID: "pending", UserID: f.ada.ID, CreatedAt: at(0), LastSeen: at(0), ExpiresAt: at(1000)}))
	must(t, s.CreateUserSession(ctx, roomhub.UserSession{ID: "other", UserID: f.ada.ID, CreatedAt: at(0), LastSeen: at(0), ExpiresAt: at(1000)}))
	must(t, s.CreateUserSession(ctx, roomhub.UserSession{ID: "verified", UserID: f.ada.ID, Verified: true, CreatedAt: at(0), LastSeen: at(0), ExpiresAt: at(1000)}))
	if us, err := s.UserSession(ctx, "pending"); err != nil || us.CodeFailures != 0 {
		t.Fatalf("a new session: %+v %v", us, err)
	}
	for want := 1; want <= 3; want++ {
		if n, err := s.RecordCodeFailure(ctx, "pending"); err != nil || n != want {
			t.Fatalf("failure %d counted as %d, %v", want, n, err)
		}
	}
	// Concurrent failures are each counted once.
	const workers = 8
	var wg sync.WaitGroup
	seen := make([]int, workers)
	errs := make([]error, workers)
	for i := range workers {
		wg.Go(func() { seen[i], errs[i] = s.RecordCodeFailure(ctx, "pending") })
	}
	wg.Wait()
	got := map[int]bool{}
	for i := range workers {
		must(t, errs[i])
		got[seen[i]] = true
	}
	for want := 4; want < 4+workers; want++ {
		if !got[want] {
			t.Fatalf("concurrent failures returned %v, missing %d", seen, want)
		}
	}
	if us, err := s.UserSession(ctx, "pending"); err != nil || us.CodeFailures != 3+workers {
		t.Fatalf("after %d failures: %+v %v", 3+workers, us, err)
	}
	if us, _ := s.UserSession(ctx, "other"); us.CodeFailures != 0 {
		t.Fatalf("another session of the same user was counted: %+v", us)
	}
	for _, id := range []string{"verified", "missing"} {
		_, err := s.RecordCodeFailure(ctx, id)
		wantCode(t, err, roomhub.ENOTFOUND)
	}
	if us, _ := s.UserSession(ctx, "verified"); us.CodeFailures != 0 {
		t.Fatalf("a verified session was counted: %+v", us)
	}
	// The count goes with its session.
	must(t, s.DeleteUserSession(ctx, "pending"))
	_, err := s.RecordCodeFailure(ctx, "pending")
	wantCode(t, err, roomhub.ENOTFOUND)
}
