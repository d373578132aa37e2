// Package storetest is the conformance suite for roomhub.Store: every
// implementation runs it from its own tests, so that the server behaves the
// same whichever database holds its state.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"roomhub"
)

// Run runs the suite against the stores open returns. open is called once per
// subtest and must return a new, migrated store holding no data, closed by
// open's own t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) roomhub.Store) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, roomhub.Store)
	}{
		{"DefaultOrgCreatedOnce", testDefaultOrg},
		{"OrgBySlugUnknown", testOrgBySlugUnknown},
		{"CreateOrg", testCreateOrg},
		{"PutMemberCreateThenReplace", testPutMember},
		{"PutMemberUnknownOrg", testPutMemberUnknownOrg},
		{"GetDeleteMember", testGetDeleteMember},
		{"TenantIsolation", testTenantIsolation},
		{"ListMembersOrder", testListMembersOrder},
		{"DeleteAllMembers", testDeleteAllMembers},
		{"SessionRoundTrip", testSessionRoundTrip},
		{"SessionMissingAndDelete", testSessionDelete},
		{"DeleteExpiredSessionsBoundary", testDeleteExpiredSessions},
		{"DeleteAllSessions", testDeleteAllSessions},
		{"AuditScopedNewestFirst", testAuditList},
		{"AuditLimit", testAuditLimit},
		{"AuditExtra", testAuditExtra},
		{"AuditFieldsBounded", testAuditBounded},
		{"AuditPrune", testAuditPrune},
		{"CancelledContext", testCancelledContext},
		{"Metacharacters", testMetacharacters},
		{"Ping", testPing},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// at returns the suite's epoch plus ms milliseconds. Stores keep millisecond
// precision, so every time the suite writes is made by at.
func at(ms int) time.Time {
	return time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC).Add(time.Duration(ms) * time.Millisecond)
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := roomhub.ErrorCode(err); err == nil || got != code {
		t.Fatalf("err = %v (code %q), want code %q", err, got, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func createOrg(t *testing.T, s roomhub.Store, slug string) roomhub.Org {
	t.Helper()
	o, err := s.CreateOrg(t.Context(), slug, "Org "+slug)
	must(t, err)
	return o
}

func putMember(t *testing.T, s roomhub.Store, m roomhub.Member) bool {
	t.Helper()
	created, err := s.PutMember(t.Context(), m)
	must(t, err)
	return created
}

// equal compares a stored value with the one expected, ignoring time zones
// and the nil-versus-empty distinction of slices, which no caller relies on.
func equal(got, want any) bool {
	return reflect.DeepEqual(normalize(got), normalize(want))
}

func normalize(v any) any {
	switch v := v.(type) {
	case roomhub.Org:
		v.CreatedAt = v.CreatedAt.UTC()
		return v
	case roomhub.Member:
		v.JoinedAt = v.JoinedAt.UTC()
		return v
	case []roomhub.Member:
		out := []any{}
		for _, m := range v {
			out = append(out, normalize(m))
		}
		return out
	case roomhub.Session:
		v.CreatedAt, v.LastSeen, v.ExpiresAt = v.CreatedAt.UTC(), v.LastSeen.UTC(), v.ExpiresAt.UTC()
		grants := []roomhub.Grant{}
		for _, g := range v.Grants {
			g.IssuedAt = g.IssuedAt.UTC()
			grants = append(grants, g)
		}
		v.Grants = grants
		return v
	case roomhub.AuditEntry:
		v.At = v.At.UTC()
		if len(v.Extra) == 0 {
			v.Extra = nil
		}
		return v
	}
	panic(fmt.Sprintf("storetest: cannot compare %T", v))
}

func testDefaultOrg(t *testing.T, s roomhub.Store) {
	ctx := t.Context()
	first, err := s.DefaultOrg(ctx)
	must(t, err)
	if first.ID == 0 || first.Slug != roomhub.DefaultOrgSlug || first.Name == "" || first.CreatedAt.IsZero() {
		t.Fatalf("DefaultOrg = %+v", first)
	}
	again, err := s.DefaultOrg(ctx)
	must(t, err)
	if !equal(again, first) {
		t.Errorf("second DefaultOrg = %+v, want %+v", again, first)
	}
	bySlug, err := s.OrgBySlug(ctx, roomhub.DefaultOrgSlug)
	must(t, err)
	if !equal(bySlug, first) {
		t.Errorf("OrgBySlug(default) = %+v, want %+v", bySlug, first)
	}
}

func testOrgBySlugUnknown(t *testing.T, s roomhub.Store) {
	_, err := s.DefaultOrg(t.Context())
	must(t, err)
	// Near misses of an existing slug, and LIKE wildcards that would match it
	// if slugs were compared as patterns.
	for _, slug := range []string{"nope", "", "default ", "%", "defaul_", "default%"} {
		t.Run(fmt.Sprintf("%q", slug), func(t *testing.T) {
			_, err := s.OrgBySlug(t.Context(), slug)
			wantCode(t, err, roomhub.ENOTFOUND)
		})
	}
}

func testCreateOrg(t *testing.T, s roomhub.Store) {
	ctx := t.Context()
	_, err := s.DefaultOrg(ctx)
	must(t, err)
	// Steps run in order on one store.
	steps := []struct {
		slug, name string
		code       string // "" for success
	}{
		{"acme", "Acme Inc.", ""},
		{"globex", "Globex", ""},
		{"acme", "Another Acme", roomhub.ECONFLICT},
		{roomhub.DefaultOrgSlug, "Not the default", roomhub.ECONFLICT},
		{"", "No slug", roomhub.EINVALID},
	}
	ids := map[int64]string{}
	for _, st := range steps {
		o, err := s.CreateOrg(ctx, st.slug, st.name)
		if st.code != "" {
			wantCode(t, err, st.code)
			continue
		}
		must(t, err)
		if o.ID == 0 || o.Slug != st.slug || o.Name != st.name || o.CreatedAt.IsZero() {
			t.Fatalf("CreateOrg(%q) = %+v", st.slug, o)
		}
		if prev, ok := ids[o.ID]; ok {
			t.Fatalf("orgs %q and %q share id %d", prev, st.slug, o.ID)
		}
		ids[o.ID] = st.slug
		got, err := s.OrgBySlug(ctx, st.slug)
		must(t, err)
		if !equal(got, o) {
			t.Errorf("OrgBySlug(%q) = %+v, want %+v", st.slug, got, o)
		}
	}
	// The conflict did not rename the existing org.
	acme, err := s.OrgBySlug(ctx, "acme")
	must(t, err)
	if acme.Name != "Acme Inc." {
		t.Errorf("acme renamed to %q by a conflicting CreateOrg", acme.Name)
	}
}

func testPutMember(t *testing.T, s roomhub.Store) {
	ctx := t.Context()
	org := createOrg(t, s, "acme")
	first := roomhub.Member{OrgID: org.ID, Room: "lobby", UID: 42, Name: "Ada", SessionID: "s1", JoinedAt: at(1)}
	if !putMember(t, s, first) {
		t.Error("first PutMember: created = false")
	}
	got, err := s.GetMember(ctx, org.ID, "lobby", 42)
	must(t, err)
	if !equal(got, first) {
		t.Errorf("GetMember = %+v, want %+v", got, first)
	}

	second := roomhub.Member{OrgID: org.ID, Room: "lobby", UID: 42, Name: "Ada L.", SessionID: "s2", JoinedAt: at(5000)}
	if putMember(t, s, second) {
		t.Error("second PutMember: created = true")
	}
	want := first
	want.Name = second.Name // only the name is replaced
	got, err = s.GetMember(ctx, org.ID, "lobby", 42)
	must(t, err)
	if !equal(got, want) {
		t.Errorf("after replace GetMember = %+v, want %+v", got, want)
	}

	// The largest uid fits.
	max := roomhub.Member{OrgID: org.ID, Room: "lobby", UID: 1<<32 - 1, Name: "Max", SessionID: "s3", JoinedAt: at(2)}
	putMember(t, s, max)
	got, err = s.GetMember(ctx, org.ID, "lobby", max.UID)
	must(t, err)
	if !equal(got, max) {
		t.Errorf("GetMember(max uid) = %+v, want %+v", got, max)
	}
}

func testPutMemberUnknownOrg(t *testing.T, s roomhub.Store) {
	org := createOrg(t, s, "acme")
	_, err := s.PutMember(t.Context(), roomhub.Member{OrgID: org.ID + 1000, Room: "lobby", UID: 1, Name: "Ghost", SessionID: "s", JoinedAt: at(0)})
	wantCode(t, err, roomhub.ENOTFOUND)
}

func testGetDeleteMember(t *testing.T, s roomhub.Store) {
	ctx := t.Context()
	org := createOrg(t, s, "acme")
	_, err := s.GetMember(ctx, org.ID, "lobby", 1)
	wantCode(t, err, roomhub.ENOTFOUND)
	deleted, err := s.DeleteMember(ctx, org.ID, "lobby", 1)
	must(t, err)
	if deleted {
		t.Error("DeleteMember of a missing member: deleted = true")
	}

	putMember(t, s, roomhub.Member{OrgID: org.ID, Room: "lobby", UID: 1, Name: "Ada", SessionID: "s", JoinedAt: at(0)})
	putMember(t, s, roomhub.Member{OrgID: org.ID, Room: "lobby", UID: 2, Name: "Bob", SessionID: "s", JoinedAt: at(0)})
	deleted, err = s.DeleteMember(ctx, org.ID, "lobby", 1)
	must(t, err)
	if !deleted {
		t.Error("DeleteMember: deleted = false")
	}
	_, err = s.GetMember(ctx, org.ID, "lobby", 1)
	wantCode(t, err, roomhub.ENOTFOUND)
	deleted, err = s.DeleteMember(ctx, org.ID, "lobby", 1)
	must(t, err)
	if deleted {
		t.Error("second DeleteMember: deleted = true")
	}
	if _, err := s.GetMember(ctx, org.ID, "lobby", 2); err != nil {
		t.Errorf("deleting uid 1 affected uid 2: %v", err)
	}
}

// testTenantIsolation checks that two organizations with a member in a room
// of the same name, under the same uid, never see or touch each other's.
func testTenantIsolation(t *testing.T, s roomhub.Store) {
	ctx := t.Context()
	a, b := createOrg(t, s, "a"), createOrg(t, s, "b")
	ma := roomhub.Member{OrgID: a.ID, Room: "lobby", UID: 7, Name: "Alice", SessionID: "sa", JoinedAt: at(1)}
	mb := roomhub.Member{OrgID: b.ID, Room: "lobby", UID: 7, Name: "Bruno", SessionID: "sb", JoinedAt: at(2)}
	if !putMember(t, s, ma) || !putMember(t, s, mb) {
		t.Fatal("the same room and uid in two orgs must be two members")
	}

	for _, c := range []struct {
		org  roomhub.Org
		want roomhub.Member
	}{{a, ma}, {b, mb}} {
		got, err := s.GetMember(ctx, c.org.ID, "lobby", 7)
		must(t, err)
		if !equal(got, c.want) {
			t.Errorf("GetMember in %s = %+v, want %+v", c.org.Slug, got, c.want)
		}
		list, err := s.ListMembers(ctx, c.org.ID, "lobby")
		must(t, err)
		if !equal(list, []roomhub.Member{c.want}) {
			t.Errorf("ListMembers in %s = %+v, want only %+v", c.org.Slug, list, c.want)
		}
	}

	// A deletes its member: B's is untouched, and deleting again through A
	// finds nothing even though B's row has the same room and uid.
	for i, wantDeleted := range []bool{true, false} {
		deleted, err := s.DeleteMember(ctx, a.ID, "lobby", 7)
		must(t, err)
		if deleted != wantDeleted {
			t.Errorf("DeleteMember #%d in a: deleted = %v, want %v", i+1, deleted, wantDeleted)
		}
	}
	got, err := s.GetMember(ctx, b.ID, "lobby", 7)
	must(t, err)
	if !equal(got, mb) {
		t.Errorf("b's member after a's delete = %+v, want %+v", got, mb)
	}

	// Replacing in A creates A's member again rather than renaming B's.
	if !putMember(t, s, ma) {
		t.Error("PutMember in a after delete: created = false")
	}
	got, err = s.GetMember(ctx, b.ID, "lobby", 7)
	must(t, err)
	if got.Name != mb.Name {
		t.Errorf("PutMember in a renamed b's member to %q", got.Name)
	}
}

func testListMembersOrder(t *testing.T, s roomhub.Store) {
	ctx := t.Context()
	org, other := createOrg(t, s, "acme"), createOrg(t, s, "other")
	in := []roomhub.Member{
		{OrgID: org.ID, Room: "lobby", UID: 5, Name: "E", SessionID: "s", JoinedAt: at(2)},
		{OrgID: org.ID, Room: "lobby", UID: 9, Name: "I", SessionID: "s", JoinedAt: at(1)},
		{OrgID: org.ID, Room: "lobby", UID: 3, Name: "C", SessionID: "s", JoinedAt: at(1)},
		{OrgID: org.ID, Room: "lobby", UID: 1, Name: "A", SessionID: "s", JoinedAt: at(3)},
		{OrgID: org.ID, Room: "lobby", UID: 0, Name: "Z", SessionID: "s", JoinedAt: at(-1)},
		{OrgID: org.ID, Room: "kitchen", UID: 2, Name: "B", SessionID: "s", JoinedAt: at(0)},
		{OrgID: other.ID, Room: "lobby", UID: 4, Name: "D", SessionID: "s", JoinedAt: at(0)},
	}
	for _, m := range in {
		putMember(t, s, m)
	}
	// By joined_at, then uid for equal times.
	want := []roomhub.Member{in[4], in[2], in[1], in[0], in[3]}
	got, err := s.ListMembers(ctx, org.ID, "lobby")
	must(t, err)
	if !equal(got, want) {
		t.Errorf("ListMembers =\n%+v\nwant\n%+v", got, want)
	}

	empty, err := s.ListMembers(ctx, org.ID, "empty")
	must(t, err)
	if len(empty) != 0 {
		t.Errorf("ListMembers of an empty room = %+v", empty)
	}
}

func testDeleteAllMembers(t *testing.T, s roomhub.Store) {
	ctx := t.Context()
	a, b := createOrg(t, s, "a"), createOrg(t, s, "b")
	members := []roomhub.Member{
		{OrgID: a.ID, Room: "lobby", UID: 1, Name: "A1", SessionID: "s", JoinedAt: at(0)},
		{OrgID: a.ID, Room: "kitchen", UID: 2, Name: "A2", SessionID: "s", JoinedAt: at(0)},
		{OrgID: b.ID, Room: "lobby", UID: 1, Name: "B1", SessionID: "s", JoinedAt: at(0)},
	}
	for _, m := range members {
		putMember(t, s, m)
	}
	n, err := s.DeleteAllMembers(ctx)
	must(t, err)
	if n != len(members) {
		t.Errorf("DeleteAllMembers = %d, want %d", n, len(members))
	}
	for _, m := range members {
		_, err := s.GetMember(ctx, m.OrgID, m.Room, m.UID)
		wantCode(t, err, roomhub.ENOTFOUND)
	}
	n, err = s.DeleteAllMembers(ctx)
	must(t, err)
	if n != 0 {
		t.Errorf("DeleteAllMembers on an empty table = %d", n)
	}
	// The rooms outlive their members: joining again works.
	if !putMember(t, s, members[0]) {
		t.Error("PutMember after DeleteAllMembers: created = false")
	}
}

func testSessionRoundTrip(t *testing.T, s roomhub.Store) {
	ctx := t.Context()
	sess := roomhub.Session{
		ID: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Grants: []roomhub.Grant{
			{OrgID: 1, Room: "lobby", UID: 42, IssuedAt: at(10)},
			{OrgID: 2, Room: "kitchen", UID: 1<<32 - 1, IssuedAt: at(20).In(time.FixedZone("X", 3600))},
		},
		CreatedAt: at(0),
		LastSeen:  at(30),
		ExpiresAt: at(86_400_000),
	}
	must(t, s.SaveSession(ctx, sess))
	got, err := s.GetSession(ctx, sess.ID)
	must(t, err)
	if !equal(got, sess) {
		t.Fatalf("GetSession =\n%+v\nwant\n%+v", got, sess)
	}

	// Saving again updates grants, last seen and expiry in place.
	sess.AddGrant(roomhub.Grant{OrgID: 1, Room: "lobby", UID: 43, IssuedAt: at(40)})
	sess.LastSeen, sess.ExpiresAt = at(40), at(90_000_000)
	must(t, s.SaveSession(ctx, sess))
	got, err = s.GetSession(ctx, sess.ID)
	must(t, err)
	if !equal(got, sess) {
		t.Errorf("GetSession after update =\n%+v\nwant\n%+v", got, sess)
	}
	if g, ok := got.Grant(1, "lobby", 43); !ok || !g.IssuedAt.Equal(at(40)) {
		t.Errorf("updated grant = %+v, %v", g, ok)
	}

	// A session without grants round-trips too.
	bare := roomhub.Session{ID: "bare", CreatedAt: at(0), LastSeen: at(0), ExpiresAt: at(1000)}
	must(t, s.SaveSession(ctx, bare))
	got, err = s.GetSession(ctx, bare.ID)
	must(t, err)
	if !equal(got, bare) {
		t.Errorf("GetSession(bare) = %+v, want %+v", got, bare)
	}

	wantCode(t, s.SaveSession(ctx, roomhub.Session{ExpiresAt: at(1000)}), roomhub.EINVALID)
}

func testSessionDelete(t *testing.T, s roomhub.Store) {
	ctx := t.Context()
	_, err := s.GetSession(ctx, "missing")
	wantCode(t, err, roomhub.ENOTFOUND)
	must(t, s.DeleteSession(ctx, "missing"))

	for _, id := range []string{"keep", "drop"} {
		must(t, s.SaveSession(ctx, roomhub.Session{ID: id, CreatedAt: at(0), LastSeen: at(0), ExpiresAt: at(1000)}))
	}
	must(t, s.DeleteSession(ctx, "drop"))
	_, err = s.GetSession(ctx, "drop")
	wantCode(t, err, roomhub.ENOTFOUND)
	must(t, s.DeleteSession(ctx, "drop"))
	if _, err := s.GetSession(ctx, "keep"); err != nil {
		t.Errorf("deleting one session lost another: %v", err)
	}
}

func testDeleteExpiredSessions(t *testing.T, s roomhub.Store) {
	ctx := t.Context()
	now := at(60_000)
	cases := []struct {
		id      string
		expires time.Time
		deleted bool
	}{
		{"long-gone", at(0), true},
		{"one-ms-ago", now.Add(-time.Millisecond), true},
		{"expires-now", now, true},
		{"one-ms-left", now.Add(time.Millisecond), false},
		{"tomorrow", now.Add(24 * time.Hour), false},
	}
	wantDeleted := 0
	for _, c := range cases {
		must(t, s.SaveSession(ctx, roomhub.Session{ID: c.id, CreatedAt: at(0), LastSeen: at(0), ExpiresAt: c.expires}))
		if c.deleted {
			wantDeleted++
		}
	}
	n, err := s.DeleteExpiredSessions(ctx, now)
	must(t, err)
	if n != wantDeleted {
		t.Errorf("DeleteExpiredSessions = %d, want %d", n, wantDeleted)
	}
	for _, c := range cases {
		_, err := s.GetSession(ctx, c.id)
		if c.deleted {
			wantCode(t, err, roomhub.ENOTFOUND)
		} else if err != nil {
			t.Errorf("%s: %v", c.id, err)
		}
	}
}

func testDeleteAllSessions(t *testing.T, s roomhub.Store) {
	ctx := t.Context()
	ids := []string{"a", "b", "c"}
	for _, id := range ids {
		must(t, s.SaveSession(ctx, roomhub.Session{ID: id, CreatedAt: at(0), LastSeen: at(0), ExpiresAt: at(1000)}))
	}
	n, err := s.DeleteAllSessions(ctx)
	must(t, err)
	if n != len(ids) {
		t.Errorf("DeleteAllSessions = %d, want %d", n, len(ids))
	}
	for _, id := range ids {
		_, err := s.GetSession(ctx, id)
		wantCode(t, err, roomhub.ENOTFOUND)
	}
}

func entry(org int64, ms int, action string) roomhub.AuditEntry {
	return roomhub.AuditEntry{
		OrgID: org, At: at(ms), ActorID: "session:ab12", ActorName: "Ada", Action: action,
		ObjectType: "member", ObjectID: "lobby/42", Description: "Ada did " + action,
		IP: "192.0.2.1", UserAgent: "Mozilla/5.0", Path: "/api/members", Success: ms%2 == 0,
		Extra: map[string]any{"ms": float64(ms)},
	}
}

// listAudit returns org's entries with IDs checked and cleared, so that they
// compare with the entries appended.
func listAudit(t *testing.T, s roomhub.Store, org int64, limit int) []roomhub.AuditEntry {
	t.Helper()
	es, err := s.ListAudit(t.Context(), org, limit)
	must(t, err)
	seen := map[int64]bool{}
	for i := range es {
		if es[i].ID == 0 || seen[es[i].ID] {
			t.Fatalf("entry %d has id %d, want a new non-zero id", i, es[i].ID)
		}
		seen[es[i].ID] = true
		es[i].ID = 0
	}
	return es
}

func wantEntries(t *testing.T, got, want []roomhub.AuditEntry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d:\n%+v", len(got), len(want), got)
	}
	for i := range want {
		if !equal(got[i], want[i]) {
			t.Errorf("entry %d =\n%+v\nwant\n%+v", i, got[i], want[i])
		}
	}
}

func testAuditList(t *testing.T, s roomhub.Store) {
	ctx := t.Context()
	a, b := createOrg(t, s, "a"), createOrg(t, s, "b")
	ea := []roomhub.AuditEntry{entry(a.ID, 1, "member.create"), entry(a.ID, 3, "member.delete"), entry(a.ID, 2, "member.delete.denied")}
	eb := entry(b.ID, 4, "member.create")
	for _, e := range append(ea, eb) {
		must(t, s.AppendAudit(ctx, e))
	}
	wantEntries(t, listAudit(t, s, a.ID, 10), []roomhub.AuditEntry{ea[1], ea[2], ea[0]})
	wantEntries(t, listAudit(t, s, b.ID, 10), []roomhub.AuditEntry{eb})
	wantEntries(t, listAudit(t, s, b.ID+1000, 10), nil)

	// Entries at the same instant list the later-appended first.
	same := []roomhub.AuditEntry{entry(b.ID, 10, "first"), entry(b.ID, 10, "second")}
	for _, e := range same {
		must(t, s.AppendAudit(ctx, e))
	}
	wantEntries(t, listAudit(t, s, b.ID, 2), []roomhub.AuditEntry{same[1], same[0]})
}

func testAuditLimit(t *testing.T, s roomhub.Store) {
	org := createOrg(t, s, "acme")
	var all []roomhub.AuditEntry
	for ms := range 5 {
		e := entry(org.ID, ms, "a")
		must(t, s.AppendAudit(t.Context(), e))
		all = append([]roomhub.AuditEntry{e}, all...) // newest first
	}
	for _, c := range []struct{ limit, want int }{{1, 1}, {2, 2}, {5, 5}, {6, 5}, {100, 5}} {
		t.Run(fmt.Sprint(c.limit), func(t *testing.T) {
			wantEntries(t, listAudit(t, s, org.ID, c.limit), all[:c.want])
		})
	}
}

func testAuditExtra(t *testing.T, s roomhub.Store) {
	cases := []struct {
		name  string
		extra map[string]any
	}{
		{"nil", nil},
		{"empty", map[string]any{}},
		{"scalars", map[string]any{"s": "x", "n": 1.5, "big": 4294967295.0, "yes": true, "no": false, "null": nil}},
		{"nested", map[string]any{"list": []any{"a", 2.0, map[string]any{"k": "v"}}, "obj": map[string]any{"deep": map[string]any{"x": "y"}}}},
		{"quotes", map[string]any{`it's "quoted"`: `'); DROP TABLE audit_log;--`, "unicode": "ünï 🎉"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			org := createOrg(t, s, fmt.Sprint("org", i))
			e := entry(org.ID, 0, "extra")
			e.Extra = c.extra
			must(t, s.AppendAudit(t.Context(), e))
			wantEntries(t, listAudit(t, s, org.ID, 1), []roomhub.AuditEntry{e})
		})
	}
}

// testAuditBounded: an attacker chooses the User-Agent and path of a
// refused request; whatever their size, the row keeps a bounded prefix, and
// one-time tokens never reach it.
func testAuditBounded(t *testing.T, s roomhub.Store) {
	org := createOrg(t, s, "acme")
	e := entry(org.ID, 0, "member.delete.denied")
	e.UserAgent = strings.Repeat("A", 64<<10)
	e.Path = "/o/acme/join/" + strings.Repeat("t", 40) + "/" + strings.Repeat("p", 64<<10)
	e.Description = strings.Repeat("é", 10<<10)
	e.ActorName = strings.Repeat("n", 10<<10)
	e.ObjectID = strings.Repeat("o", 10<<10)
	e.Extra = map[string]any{"blob": strings.Repeat("x", 64<<10)}
	must(t, s.AppendAudit(t.Context(), e))
	got := listAudit(t, s, org.ID, 1)[0]
	for _, f := range []struct {
		name string
		v    string
		max  int
	}{
		{"user agent", got.UserAgent, roomhub.MaxAuditUserAgent},
		{"path", got.Path, roomhub.MaxAuditPath},
		{"description", got.Description, roomhub.MaxAuditDescription},
		{"actor name", got.ActorName, roomhub.MaxAuditShort},
		{"object id", got.ObjectID, roomhub.MaxAuditShort},
	} {
		if len(f.v) > f.max || len(f.v) < f.max/2 || !utf8.ValidString(f.v) {
			t.Errorf("%s kept %d bytes (valid UTF-8: %v), want a prefix of at most %d", f.name, len(f.v), utf8.ValidString(f.v), f.max)
		}
	}
	if strings.Contains(got.Path, "tttt") || !strings.HasPrefix(got.Path, "/o/acme/join/"+roomhub.RedactedToken+"/") {
		t.Errorf("path %.80q keeps the invite token", got.Path)
	}
	if b, _ := json.Marshal(got.Extra); len(b) > roomhub.MaxAuditExtraBytes {
		t.Errorf("extra kept %d bytes", len(b))
	}
}

// testAuditPrune: rows older than the retention go, in every organization;
// newer ones stay.
func testAuditPrune(t *testing.T, s roomhub.Store) {
	p, ok := s.(interface {
		PruneAudit(ctx context.Context, before time.Time, batch int) (int, error)
	})
	if !ok {
		t.Fatalf("%T has no PruneAudit", s)
	}
	a, b := createOrg(t, s, "a"), createOrg(t, s, "b")
	for ms := range 7 {
		must(t, s.AppendAudit(t.Context(), entry(a.ID, ms, "a")))
		must(t, s.AppendAudit(t.Context(), entry(b.ID, ms, "b")))
	}
	n, err := p.PruneAudit(t.Context(), at(5), 3) // batches of 3: 10 rows in four statements
	must(t, err)
	if n != 10 {
		t.Fatalf("pruned %d rows, want 10", n)
	}
	for _, org := range []int64{a.ID, b.ID} {
		es := listAudit(t, s, org, 100)
		if len(es) != 2 || !es[1].At.Equal(at(5)) {
			t.Fatalf("org %d kept %+v, want the rows at 5 and 6 ms", org, es)
		}
	}
}

// testCancelledContext checks that every method gives up on a cancelled
// context with an error that says so, and writes nothing.
func testCancelledContext(t *testing.T, s roomhub.Store) {
	live := t.Context()
	org := createOrg(t, s, "acme")
	m := roomhub.Member{OrgID: org.ID, Room: "lobby", UID: 1, Name: "Ada", SessionID: "s", JoinedAt: at(0)}
	putMember(t, s, m)
	sess := roomhub.Session{ID: "s", CreatedAt: at(0), LastSeen: at(0), ExpiresAt: at(1000)}
	must(t, s.SaveSession(live, sess))

	ctx, cancel := context.WithCancel(live)
	cancel()
	calls := map[string]func() error{
		"DefaultOrg": func() error { _, err := s.DefaultOrg(ctx); return err },
		"OrgBySlug":  func() error { _, err := s.OrgBySlug(ctx, "acme"); return err },
		"CreateOrg":  func() error { _, err := s.CreateOrg(ctx, "new", "New"); return err },
		"PutMember": func() error {
			_, err := s.PutMember(ctx, roomhub.Member{OrgID: org.ID, Room: "lobby", UID: 2, Name: "Bob", SessionID: "s", JoinedAt: at(0)})
			return err
		},
		"GetMember":             func() error { _, err := s.GetMember(ctx, org.ID, "lobby", 1); return err },
		"DeleteMember":          func() error { _, err := s.DeleteMember(ctx, org.ID, "lobby", 1); return err },
		"ListMembers":           func() error { _, err := s.ListMembers(ctx, org.ID, "lobby"); return err },
		"DeleteAllMembers":      func() error { _, err := s.DeleteAllMembers(ctx); return err },
		"GetSession":            func() error { _, err := s.GetSession(ctx, "s"); return err },
		"SaveSession":           func() error { return s.SaveSession(ctx, roomhub.Session{ID: "new", ExpiresAt: at(1000)}) },
		"DeleteSession":         func() error { return s.DeleteSession(ctx, "s") },
		"DeleteExpiredSessions": func() error { _, err := s.DeleteExpiredSessions(ctx, at(1_000_000)); return err },
		"DeleteAllSessions":     func() error { _, err := s.DeleteAllSessions(ctx); return err },
		"AppendAudit":           func() error { return s.AppendAudit(ctx, entry(org.ID, 0, "cancelled")) },
		"ListAudit":             func() error { _, err := s.ListAudit(ctx, org.ID, 10); return err },
		"Ping":                  func() error { return s.Ping(ctx) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want one wrapping context.Canceled", err)
			}
		})
	}

	// Nothing was written or deleted.
	if _, err := s.GetMember(live, org.ID, "lobby", 1); err != nil {
		t.Errorf("member deleted under a cancelled context: %v", err)
	}
	_, err := s.GetMember(live, org.ID, "lobby", 2)
	wantCode(t, err, roomhub.ENOTFOUND)
	if _, err := s.GetSession(live, "s"); err != nil {
		t.Errorf("session deleted under a cancelled context: %v", err)
	}
	_, err = s.OrgBySlug(live, "new")
	wantCode(t, err, roomhub.ENOTFOUND)
	if es := listAudit(t, s, org.ID, 10); len(es) != 0 {
		t.Errorf("audit appended under a cancelled context: %+v", es)
	}
}

// testMetacharacters stores values that would break string-built SQL and
// checks that they come back unchanged and the schema is intact.
func testMetacharacters(t *testing.T, s roomhub.Store) {
	values := []string{
		`O'Brien`,
		`Robert'); DROP TABLE members;--`,
		`' OR '1'='1`,
		`"double" and \back\slash`,
		`100% _under_ [brackets]`,
		`$1 ? :name @p`,
		"tab\there\nnewline",
		"ünïcödé 🎉",
	}
	for i, v := range values {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			ctx := t.Context()
			org, err := s.CreateOrg(ctx, v, v)
			must(t, err)
			got, err := s.OrgBySlug(ctx, v)
			must(t, err)
			if !equal(got, org) || got.Name != v {
				t.Errorf("OrgBySlug = %+v, want %+v", got, org)
			}

			m := roomhub.Member{OrgID: org.ID, Room: v, UID: 1, Name: v, SessionID: v, JoinedAt: at(0)}
			putMember(t, s, m)
			gm, err := s.GetMember(ctx, org.ID, v, 1)
			must(t, err)
			if !equal(gm, m) {
				t.Errorf("GetMember = %+v, want %+v", gm, m)
			}
			list, err := s.ListMembers(ctx, org.ID, v)
			must(t, err)
			if !equal(list, []roomhub.Member{m}) {
				t.Errorf("ListMembers = %+v, want %+v", list, m)
			}

			sess := roomhub.Session{ID: v, Grants: []roomhub.Grant{{OrgID: org.ID, Room: v, UID: 1, IssuedAt: at(0)}},
				CreatedAt: at(0), LastSeen: at(0), ExpiresAt: at(1000)}
			must(t, s.SaveSession(ctx, sess))
			gs, err := s.GetSession(ctx, v)
			must(t, err)
			if !equal(gs, sess) {
				t.Errorf("GetSession = %+v, want %+v", gs, sess)
			}

			e := entry(org.ID, 0, v)
			e.ActorName, e.Description, e.Path, e.UserAgent = v, v, v, v
			e.Extra = map[string]any{v: v}
			must(t, s.AppendAudit(ctx, e))
			wantEntries(t, listAudit(t, s, org.ID, 10), []roomhub.AuditEntry{e})
		})
	}

	// Every value is still there: nothing was dropped or rewritten.
	ctx := t.Context()
	for _, v := range values {
		org, err := s.OrgBySlug(ctx, v)
		must(t, err)
		list, err := s.ListMembers(ctx, org.ID, v)
		must(t, err)
		if len(list) != 1 || list[0].Name != v {
			t.Errorf("members of %q = %+v", v, list)
		}
	}
	n, err := s.DeleteAllMembers(ctx)
	must(t, err)
	if n != len(values) {
		t.Errorf("DeleteAllMembers = %d, want %d", n, len(values))
	}
}

func testPing(t *testing.T, s roomhub.Store) {
	must(t, s.Ping(t.Context()))
}
