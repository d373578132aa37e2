package sqlstore

import (
	"context"
	"testing"
	"time"

	"roomhub"
)

// TestRepairHistory: a member whose leave reached the history before its
// join (two nodes, milliseconds apart), and one whose leave was never
// written, keep their room's session open for good; RepairHistory ends
// both once they are older than the settle time, and leaves alone members
// still in the room and changes too recent to judge.
func TestRepairHistory(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			var s *Store
			if kind == "sqlite" {
				s = openSQLite(t, t.TempDir())
			} else {
				s = openPostgresTest(t, pgSchema(t))
			}
			ctx := context.Background()
			org, err := s.CreateOrg(ctx, "acme", "Acme")
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.UnixMilli(1_700_000_000_000).UTC()
			stay := roomhub.Member{OrgID: org.ID, Room: "r", UID: 1, Name: "Ada", JoinedAt: t0}
			if _, err := s.PutMember(ctx, stay); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.RecordJoin(ctx, org.ID, "r", 1, "Ada", t0); err != nil {
				t.Fatal(err)
			}
			// Bob's leave recorded first, then his join: no member row.
			if _, _, err := s.RecordLeave(ctx, org.ID, "r", 2, "left", t0.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.RecordJoin(ctx, org.ID, "r", 2, "Bob", t0.Add(time.Second-25*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			// Cy's leave was never written.
			if _, _, err := s.RecordJoin(ctx, org.ID, "r", 3, "Cy", t0.Add(2*time.Second)); err != nil {
				t.Fatal(err)
			}
			// Dee joined a moment ago; her member row is not written yet.
			now := t0.Add(5 * time.Minute)
			if _, _, err := s.RecordJoin(ctx, org.ID, "r", 4, "Dee", now.Add(-time.Second)); err != nil {
				t.Fatal(err)
			}
			live := func() roomhub.RoomSession {
				t.Helper()
				ss, err := s.ListSessions(ctx, org.ID, roomhub.SessionFilter{Room: "r", Limit: 10})
				if err != nil || len(ss) != 1 {
					t.Fatalf("sessions: %+v, %v", ss, err)
				}
				return ss[0]
			}
			if got := live().Members; got != 4 {
				t.Fatalf("members counted before the repair: %d, want 4", got)
			}
			n, err := s.RepairHistory(ctx, now, time.Minute)
			if err != nil || n != 2 {
				t.Fatalf("RepairHistory = %d, %v; want Bob and Cy ended", n, err)
			}
			if ss := live(); ss.Members != 2 || !ss.EndedAt.IsZero() {
				t.Fatalf("after the repair: %+v, want Ada and Dee still in an open session", ss)
			}
			// Everyone gone: the session ends.
			if _, err := s.DeleteMember(ctx, org.ID, "r", 1); err != nil {
				t.Fatal(err)
			}
			later := now.Add(5 * time.Minute)
			if n, err := s.RepairHistory(ctx, later, time.Minute); err != nil || n != 2 {
				t.Fatalf("second RepairHistory = %d, %v; want Ada and Dee ended", n, err)
			}
			if ss := live(); ss.EndedAt.IsZero() || ss.Members != 0 {
				t.Fatalf("session after everyone left: %+v, want ended", ss)
			}
		})
	}
}
