package storetest

import (
	"context"
	"testing"

	"roomhub"
)

// VideoStore is a store with the Agora side of rooms.
type VideoStore interface {
	roomhub.Store
	roomhub.Video
	roomhub.Accounts
}

// RunVideo runs the video conformance suite.
func RunVideo(t *testing.T, open func(t *testing.T) VideoStore) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, VideoStore)
	}{
		{"VideoSettingsRoundTrip", testVideoSettings},
		{"NoticesDeduplicated", testNotices},
		{"VideoEventsOrderedByClientSeq", testVideoOrder},
		{"VideoActions", testVideoActions},
		{"VideoSealedSecretsRotate", testVideoSealed},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func testVideoSettings(t *testing.T, s VideoStore) {
	ctx := context.Background()
	a, b := createOrg(t, s, "va"), createOrg(t, s, "vb")
	if st, err := s.VideoSettings(ctx, a.ID); err != nil || st.OrgID != a.ID || st.CustomerID != "" {
		t.Fatalf("none yet: %+v %v", st, err)
	}
	want := roomhub.VideoSettings{OrgID: a.ID, CustomerID: "cid", CustomerSecret: "v1.cs", NCSSecret: "v1.ncs", RemoveIntruders: true, UpdatedAt: at(5)}
	must(t, s.SaveVideoSettings(ctx, want))
	if got, err := s.VideoSettings(ctx, a.ID); err != nil || got != want {
		t.Fatalf("got %+v %v, want %+v", got, err, want)
	}
	if got, _ := s.VideoSettings(ctx, b.ID); got.CustomerID != "" {
		t.Fatalf("another organization reads a's settings: %+v", got)
	}
	want.RemoveIntruders = false
	must(t, s.SaveVideoSettings(ctx, want))
	if got, _ := s.VideoSettings(ctx, a.ID); got.RemoveIntruders {
		t.Fatal("update not saved")
	}
	wantCode(t, s.SaveVideoSettings(ctx, roomhub.VideoSettings{OrgID: 999999}), roomhub.ENOTFOUND)
}

func testNotices(t *testing.T, s VideoStore) {
	ctx := context.Background()
	a, b := createOrg(t, s, "na"), createOrg(t, s, "nb")
	for _, tc := range []struct {
		org  int64
		id   string
		at   int
		want bool
	}{
		{a.ID, "n1", 1, true},
		{a.ID, "n1", 2, false}, // delivered twice
		{b.ID, "n1", 2, true},  // ids are per organization
		{a.ID, "n2", 3, true},
	} {
		if first, err := s.FirstNotice(ctx, tc.org, tc.id, at(tc.at)); err != nil || first != tc.want {
			t.Fatalf("%d %s: first = %v, %v; want %v", tc.org, tc.id, first, err, tc.want)
		}
	}
	must(t, s.PruneNotices(ctx, at(3)))
	if first, _ := s.FirstNotice(ctx, a.ID, "n1", at(4)); !first {
		t.Fatal("a pruned notice id is still remembered")
	}
	if first, _ := s.FirstNotice(ctx, a.ID, "n2", at(4)); first {
		t.Fatal("a notice id newer than the prune time was forgotten")
	}
}

func testVideoOrder(t *testing.T, s VideoStore) {
	ctx := context.Background()
	a, b := createOrg(t, s, "oa"), createOrg(t, s, "ob")
	steps := []struct {
		uid     uint32
		in      bool
		seq     int64
		applied bool
	}{
		{7, true, 10, true},
		{7, false, 12, true},
		{7, true, 11, false},  // late: the leave of seq 12 stands
		{7, false, 12, false}, // duplicate
		{8, true, 3, true},
	}
	for i, st := range steps {
		ok, err := s.RecordVideo(ctx, a.ID, "r", st.uid, st.in, st.seq, at(i))
		if err != nil || ok != st.applied {
			t.Fatalf("step %d: applied = %v, %v; want %v", i, ok, err, st.applied)
		}
	}
	got, err := s.InVideo(ctx, a.ID, "r")
	if err != nil || len(got) != 1 || got[0].UID != 8 || !got[0].Since.Equal(at(4)) {
		t.Fatalf("in video: %+v %v", got, err)
	}
	if got, _ := s.InVideo(ctx, b.ID, "r"); len(got) != 0 {
		t.Fatalf("another organization's room shows a's video: %+v", got)
	}
}

func testVideoActions(t *testing.T, s VideoStore) {
	ctx := context.Background()
	a, b := createOrg(t, s, "xa"), createOrg(t, s, "xb")
	id1, err := s.AddVideoAction(ctx, roomhub.VideoAction{OrgID: a.ID, Room: "r", UID: 5, Name: "Ada", Kind: roomhub.VideoKick, Status: roomhub.VideoPending, CreatedAt: at(1)})
	must(t, err)
	id2, err := s.AddVideoAction(ctx, roomhub.VideoAction{OrgID: a.ID, Room: "r", UID: 6, Kind: roomhub.VideoIntruder, Status: roomhub.VideoPending, CreatedAt: at(2)})
	must(t, err)
	must(t, s.FinishVideoAction(ctx, a.ID, id1, roomhub.VideoFailed, "agora said no", at(3)))
	wantCode(t, s.FinishVideoAction(ctx, b.ID, id2, roomhub.VideoRemoved, "", at(3)), roomhub.ENOTFOUND)
	list, err := s.ListVideoActions(ctx, a.ID, 10)
	if err != nil || len(list) != 2 || list[0].ID != id2 || list[1].Status != roomhub.VideoFailed || list[1].Error != "agora said no" ||
		list[1].Name != "Ada" || list[0].Status != roomhub.VideoPending || !list[1].UpdatedAt.Equal(at(3)) {
		t.Fatalf("list: %+v %v", list, err)
	}
	if list, _ := s.ListVideoActions(ctx, b.ID, 10); len(list) != 0 {
		t.Fatalf("b sees a's actions: %+v", list)
	}
	// id2 is still pending: expiring at its creation time keeps it,
	// just after fails it; id1, finished, is left alone.
	if n, err := s.ExpireVideoActions(ctx, at(2), "lost", at(9)); err != nil || n != 0 {
		t.Fatalf("expire at creation: %d %v", n, err)
	}
	if n, err := s.ExpireVideoActions(ctx, at(3), "lost", at(9)); err != nil || n != 1 {
		t.Fatalf("expire: %d %v", n, err)
	}
	list, _ = s.ListVideoActions(ctx, a.ID, 10)
	if list[0].Status != roomhub.VideoFailed || list[0].Error != "lost" || list[1].Error != "agora said no" {
		t.Fatalf("after expiry: %+v", list)
	}
}

func testVideoSealed(t *testing.T, s VideoStore) {
	ctx := context.Background()
	a := createOrg(t, s, "sa")
	must(t, s.SaveVideoSettings(ctx, roomhub.VideoSettings{OrgID: a.ID, CustomerID: "c", CustomerSecret: "v1.cs", NCSSecret: "v1.ncs"}))
	all, err := s.ListSealedSecrets(ctx)
	must(t, err)
	var mine []roomhub.SealedSecret
	for _, sec := range all {
		if sec.Table == "video_settings" {
			sec.Value += "-rotated"
			mine = append(mine, sec)
		}
	}
	if len(mine) != 2 {
		t.Fatalf("video secrets listed: %+v", mine)
	}
	must(t, s.ReplaceSealedSecrets(ctx, mine))
	if st, _ := s.VideoSettings(ctx, a.ID); st.CustomerSecret != "v1.cs-rotated" || st.NCSSecret != "v1.ncs-rotated" {
		t.Fatalf("rotation: %+v", st)
	}
}
