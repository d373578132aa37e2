package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"roomhub"
)

// WebhookStore is a store with organizations' webhooks.
type WebhookStore interface {
	roomhub.Store
	roomhub.Webhooks
}

// RunWebhooks runs the webhooks conformance suite.
func RunWebhooks(t *testing.T, open func(t *testing.T) WebhookStore) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, WebhookStore)
	}{
		{"WebhookEndpoints", testWebhookEndpoints},
		{"WebhookEndpointLimit", testWebhookEndpointLimit},
		{"WebhookCrossOrganization", testWebhookCrossOrg},
		{"WebhookEnqueueFanout", testWebhookEnqueue},
		{"WebhookClaimOnceConcurrently", testWebhookClaimOnce},
		{"WebhookLeaseAndToken", testWebhookLease},
		{"WebhookAttempts", testWebhookAttempts},
		{"WebhookPruneAndDelete", testWebhookPrune},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// sealAs returns a seal function recording the id it was called with.
func sealAs(got *int64) func(int64) (string, error) {
	return func(id int64) (string, error) {
		*got = id
		return fmt.Sprintf("v1.sealed-for-%d", id), nil
	}
}

func createWebhook(t *testing.T, s WebhookStore, org int64, url string, events ...string) roomhub.WebhookEndpoint {
	t.Helper()
	var id int64
	e, err := s.CreateWebhookEndpoint(context.Background(), roomhub.WebhookEndpoint{OrgID: org, URL: url, Description: "d", Events: events,
		CreatedBy: "ada@example.com", CreatedAt: at(0)}, sealAs(&id))
	must(t, err)
	if e.ID == 0 || e.ID != id {
		t.Fatalf("created endpoint id %d, sealed for %d", e.ID, id)
	}
	return e
}

func testWebhookEndpoints(t *testing.T, s WebhookStore) {
	ctx := context.Background()
	o := createOrg(t, s, "acme")
	e := createWebhook(t, s, o.ID, "https://hooks.example.com/a", roomhub.EventMemberJoined, roomhub.EventMemberLeft)
	got, err := s.WebhookEndpoint(ctx, o.ID, e.ID)
	must(t, err)
	if got.URL != e.URL || got.Description != "d" || strings.Join(got.Events, " ") != "member_joined member_left" ||
		got.Secret != fmt.Sprintf("v1.sealed-for-%d", e.ID) || got.CreatedBy != "ada@example.com" || !got.CreatedAt.Equal(at(0)) || got.OrgID != o.ID {
		t.Fatalf("read back %+v", got)
	}
	if !got.Subscribed(roomhub.EventMemberLeft) || got.Subscribed(roomhub.EventRoomStarted) {
		t.Fatal("Subscribed disagrees with Events")
	}
	e2 := createWebhook(t, s, o.ID, "https://hooks.example.com/b", roomhub.EventRoomStarted)
	list, err := s.ListWebhookEndpoints(ctx, o.ID)
	must(t, err)
	if len(list) != 2 || list[0].ID != e.ID || list[1].ID != e2.ID {
		t.Fatalf("list %+v", list)
	}
	must(t, s.DeleteWebhookEndpoint(ctx, o.ID, e.ID))
	_, err = s.WebhookEndpoint(ctx, o.ID, e.ID)
	wantCode(t, err, roomhub.ENOTFOUND)
	wantCode(t, s.DeleteWebhookEndpoint(ctx, o.ID, e.ID), roomhub.ENOTFOUND)

	bad := []roomhub.WebhookEndpoint{
		{OrgID: o.ID, URL: "https://x.example", Events: nil},
		{OrgID: o.ID, URL: "https://x.example", Events: []string{"room_exploded"}},
		{OrgID: o.ID, URL: "https://x.example", Events: []string{roomhub.EventTest}},
		{OrgID: o.ID, URL: "", Events: []string{roomhub.EventMemberJoined}},
		{OrgID: o.ID, URL: "https://x.example/" + strings.Repeat("a", roomhub.MaxWebhookURLLen), Events: []string{roomhub.EventMemberJoined}},
	}
	for _, b := range bad {
		var id int64
		_, err := s.CreateWebhookEndpoint(ctx, b, sealAs(&id))
		wantCode(t, err, roomhub.EINVALID)
	}
	var id int64
	_, err = s.CreateWebhookEndpoint(ctx, roomhub.WebhookEndpoint{OrgID: o.ID + 1000, URL: "https://x.example", Events: []string{roomhub.EventMemberJoined}}, sealAs(&id))
	wantCode(t, err, roomhub.ENOTFOUND)
	// A seal that fails leaves nothing behind.
	_, err = s.CreateWebhookEndpoint(ctx, roomhub.WebhookEndpoint{OrgID: o.ID, URL: "https://x.example", Events: []string{roomhub.EventMemberJoined}},
		func(int64) (string, error) { return "", fmt.Errorf("no key") })
	if err == nil {
		t.Fatal("a failing seal created an endpoint")
	}
	if list, _ := s.ListWebhookEndpoints(ctx, o.ID); len(list) != 1 {
		t.Fatalf("after a failed seal: %d endpoints, want 1", len(list))
	}
}

// testWebhookEndpointLimit: the limit holds even when creations race.
func testWebhookEndpointLimit(t *testing.T, s WebhookStore) {
	ctx := context.Background()
	o := createOrg(t, s, "acme")
	var wg sync.WaitGroup
	errs := make(chan error, roomhub.MaxWebhookEndpoints+5)
	for i := range roomhub.MaxWebhookEndpoints + 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var id int64
			_, err := s.CreateWebhookEndpoint(ctx, roomhub.WebhookEndpoint{OrgID: o.ID, URL: fmt.Sprintf("https://h.example/%d", i),
				Events: []string{roomhub.EventMemberJoined}}, sealAs(&id))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	conflicts := 0
	for err := range errs {
		switch {
		case err == nil:
		case roomhub.ErrorCode(err) == roomhub.ECONFLICT:
			conflicts++
		default:
			t.Fatalf("create: %v", err)
		}
	}
	list, err := s.ListWebhookEndpoints(ctx, o.ID)
	must(t, err)
	if len(list) != roomhub.MaxWebhookEndpoints || conflicts != 5 {
		t.Fatalf("%d endpoints and %d conflicts, want %d and 5", len(list), conflicts, roomhub.MaxWebhookEndpoints)
	}
	// Another organization has its own allowance.
	other := createOrg(t, s, "other")
	createWebhook(t, s, other.ID, "https://h.example/other", roomhub.EventMemberJoined)
}

func testWebhookCrossOrg(t *testing.T, s WebhookStore) {
	ctx := context.Background()
	a, b := createOrg(t, s, "acme"), createOrg(t, s, "bravo")
	ea := createWebhook(t, s, a.ID, "https://a.example/hook", roomhub.EventMemberJoined)
	_, err := s.WebhookEndpoint(ctx, b.ID, ea.ID)
	wantCode(t, err, roomhub.ENOTFOUND)
	wantCode(t, s.DeleteWebhookEndpoint(ctx, b.ID, ea.ID), roomhub.ENOTFOUND)
	_, err = s.EnqueueWebhookTo(ctx, b.ID, ea.ID, "evt_x", roomhub.EventTest, []byte(`{}`), at(0))
	wantCode(t, err, roomhub.ENOTFOUND)
	if list, _ := s.ListWebhookEndpoints(ctx, b.ID); len(list) != 0 {
		t.Fatalf("bravo sees %d of acme's endpoints", len(list))
	}
	// An event of bravo reaches none of acme's endpoints, and acme's
	// deliveries are not in bravo's log.
	must(t, s.EnqueueWebhook(ctx, b.ID, "evt_b", roomhub.EventMemberJoined, []byte(`{"id":"evt_b"}`), at(0)))
	must(t, s.EnqueueWebhook(ctx, a.ID, "evt_a", roomhub.EventMemberJoined, []byte(`{"id":"evt_a"}`), at(0)))
	ds, err := s.ListWebhookDeliveries(ctx, b.ID, roomhub.WebhookDeliveryFilter{})
	must(t, err)
	if len(ds) != 0 {
		t.Fatalf("bravo's log holds %+v", ds)
	}
	ds, err = s.ListWebhookDeliveries(ctx, b.ID, roomhub.WebhookDeliveryFilter{EndpointID: ea.ID})
	must(t, err)
	if len(ds) != 0 {
		t.Fatalf("bravo reads acme's endpoint log: %+v", ds)
	}
	ds, err = s.ListWebhookDeliveries(ctx, a.ID, roomhub.WebhookDeliveryFilter{})
	must(t, err)
	if len(ds) != 1 || ds[0].EventID != "evt_a" {
		t.Fatalf("acme's log: %+v", ds)
	}
	// Recording an attempt needs the delivery's own organization.
	cs, err := s.ClaimWebhookDeliveries(ctx, at(0), time.Minute, 10)
	must(t, err)
	if len(cs) != 1 {
		t.Fatalf("claimed %d", len(cs))
	}
	ok, err := s.RecordWebhookAttempt(ctx, roomhub.WebhookAttempt{OrgID: b.ID, ID: cs[0].ID, Token: cs[0].Token, At: at(1), Delivered: true})
	must(t, err)
	if ok {
		t.Fatal("an attempt was recorded under another organization")
	}
}

func testWebhookEnqueue(t *testing.T, s WebhookStore) {
	ctx := context.Background()
	o := createOrg(t, s, "acme")
	joins := createWebhook(t, s, o.ID, "https://a.example/joins", roomhub.EventMemberJoined)
	all := createWebhook(t, s, o.ID, "https://a.example/all", roomhub.WebhookEventTypes...)
	rooms := createWebhook(t, s, o.ID, "https://a.example/rooms", roomhub.EventRoomStarted, roomhub.EventRoomFinished)
	payload := []byte(`{"id":"evt_1","type":"member_joined","data":{"name":"Zoë \"quotes\" ' ; DROP"}}`)
	must(t, s.EnqueueWebhook(ctx, o.ID, "evt_1", roomhub.EventMemberJoined, payload, at(5)))
	must(t, s.EnqueueWebhook(ctx, o.ID, "evt_1", roomhub.EventMemberJoined, payload, at(6))) // the same event again
	must(t, s.EnqueueWebhook(ctx, o.ID, "evt_2", roomhub.EventRoomFinished, []byte(`{"id":"evt_2"}`), at(7)))
	wantCode(t, s.EnqueueWebhook(ctx, o.ID, "evt_3", "member_%", []byte(`{}`), at(7)), roomhub.EINVALID)

	ds, err := s.ListWebhookDeliveries(ctx, o.ID, roomhub.WebhookDeliveryFilter{})
	must(t, err)
	got := map[string]int{}
	for _, d := range ds {
		got[fmt.Sprintf("%s@%d", d.EventID, d.EndpointID)]++
		if d.Status != roomhub.DeliveryPending || d.Attempts != 0 || d.OrgID != o.ID {
			t.Fatalf("new delivery %+v", d)
		}
		if d.EventID == "evt_1" && (string(d.Payload) != string(payload) || !d.NextAttemptAt.Equal(at(5)) || !d.CreatedAt.Equal(at(5)) || d.Type != roomhub.EventMemberJoined) {
			t.Fatalf("delivery %+v", d)
		}
	}
	want := map[string]int{
		fmt.Sprintf("evt_1@%d", joins.ID): 1, fmt.Sprintf("evt_1@%d", all.ID): 1,
		fmt.Sprintf("evt_2@%d", all.ID): 1, fmt.Sprintf("evt_2@%d", rooms.ID): 1,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("deliveries %v, want %v", got, want)
	}
	// Newest first, filtered by endpoint, paged.
	ds, err = s.ListWebhookDeliveries(ctx, o.ID, roomhub.WebhookDeliveryFilter{EndpointID: all.ID, Limit: 1})
	must(t, err)
	if len(ds) != 1 || ds[0].EventID != "evt_2" {
		t.Fatalf("first page %+v", ds)
	}
	ds, err = s.ListWebhookDeliveries(ctx, o.ID, roomhub.WebhookDeliveryFilter{EndpointID: all.ID, Before: ds[0].ID})
	must(t, err)
	if len(ds) != 1 || ds[0].EventID != "evt_1" {
		t.Fatalf("second page %+v", ds)
	}
	// The test event goes to one endpoint, subscribed or not.
	d, err := s.EnqueueWebhookTo(ctx, o.ID, rooms.ID, "evt_t", roomhub.EventTest, []byte(`{"type":"test"}`), at(9))
	must(t, err)
	if d.ID == 0 || d.EndpointID != rooms.ID || d.Type != roomhub.EventTest || d.Status != roomhub.DeliveryPending {
		t.Fatalf("test delivery %+v", d)
	}
	_, err = s.EnqueueWebhookTo(ctx, o.ID, rooms.ID+1000, "evt_u", roomhub.EventTest, []byte(`{}`), at(9))
	wantCode(t, err, roomhub.ENOTFOUND)
}

// testWebhookClaimOnce: workers racing over one queue claim every delivery
// exactly once.
func testWebhookClaimOnce(t *testing.T, s WebhookStore) {
	ctx := context.Background()
	o := createOrg(t, s, "acme")
	createWebhook(t, s, o.ID, "https://a.example/1", roomhub.EventMemberJoined)
	createWebhook(t, s, o.ID, "https://a.example/2", roomhub.EventMemberJoined)
	const events = 40
	for i := range events {
		must(t, s.EnqueueWebhook(ctx, o.ID, fmt.Sprintf("evt_%d", i), roomhub.EventMemberJoined, []byte(`{}`), at(i)))
	}
	var mu sync.Mutex
	claimed := map[int64]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				cs, err := s.ClaimWebhookDeliveries(ctx, at(events), time.Minute, 3)
				if err != nil {
					t.Error(err)
					return
				}
				if len(cs) == 0 {
					return
				}
				mu.Lock()
				for _, c := range cs {
					claimed[c.ID]++
					if c.URL == "" || c.Secret == "" || c.Token == "" {
						t.Errorf("claim lacks what a worker needs: %+v", c)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(claimed) != 2*events {
		t.Fatalf("claimed %d deliveries, want %d", len(claimed), 2*events)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Fatalf("delivery %d claimed %d times", id, n)
		}
	}
}

func testWebhookLease(t *testing.T, s WebhookStore) {
	ctx := context.Background()
	o := createOrg(t, s, "acme")
	createWebhook(t, s, o.ID, "https://a.example/1", roomhub.EventMemberJoined)
	must(t, s.EnqueueWebhook(ctx, o.ID, "evt_1", roomhub.EventMemberJoined, []byte(`{}`), at(1000)))
	if cs, _ := s.ClaimWebhookDeliveries(ctx, at(999), time.Minute, 10); len(cs) != 0 {
		t.Fatal("a delivery was claimed before it was due")
	}
	first, err := s.ClaimWebhookDeliveries(ctx, at(1000), time.Minute, 10)
	must(t, err)
	if len(first) != 1 {
		t.Fatalf("claimed %d", len(first))
	}
	if cs, _ := s.ClaimWebhookDeliveries(ctx, at(1000+59_999), time.Minute, 10); len(cs) != 0 {
		t.Fatal("a leased delivery was claimed again")
	}
	// The lease ran out (the worker died): another worker takes it over, and
	// the first worker's late outcome is refused.
	second, err := s.ClaimWebhookDeliveries(ctx, at(1000+60_000), time.Minute, 10)
	must(t, err)
	if len(second) != 1 || second[0].Token == first[0].Token {
		t.Fatalf("takeover: %+v", second)
	}
	ok, err := s.RecordWebhookAttempt(ctx, roomhub.WebhookAttempt{OrgID: o.ID, ID: first[0].ID, Token: first[0].Token, At: at(61_500), Status: 200, Delivered: true})
	must(t, err)
	if ok {
		t.Fatal("an expired lease recorded an outcome")
	}
	ok, err = s.RecordWebhookAttempt(ctx, roomhub.WebhookAttempt{OrgID: o.ID, ID: second[0].ID, Token: second[0].Token, At: at(61_600), Status: 204, Delivered: true})
	must(t, err)
	if !ok {
		t.Fatal("the lease holder could not record its outcome")
	}
	ok, err = s.RecordWebhookAttempt(ctx, roomhub.WebhookAttempt{OrgID: o.ID, ID: second[0].ID, Token: second[0].Token, At: at(61_700), Status: 500, RetryAt: at(70_000)})
	must(t, err)
	if ok {
		t.Fatal("a finished delivery was recorded twice")
	}
}

func testWebhookAttempts(t *testing.T, s WebhookStore) {
	ctx := context.Background()
	o := createOrg(t, s, "acme")
	createWebhook(t, s, o.ID, "https://a.example/1", roomhub.EventMemberLeft)
	must(t, s.EnqueueWebhook(ctx, o.ID, "evt_1", roomhub.EventMemberLeft, []byte(`{}`), at(0)))
	claim := func(now time.Time) roomhub.WebhookClaim {
		t.Helper()
		cs, err := s.ClaimWebhookDeliveries(ctx, now, time.Minute, 10)
		must(t, err)
		if len(cs) != 1 {
			t.Fatalf("claimed %d at %v", len(cs), now)
		}
		return cs[0]
	}
	c := claim(at(0))
	long := strings.Repeat("é", 400) // 800 bytes
	ok, err := s.RecordWebhookAttempt(ctx, roomhub.WebhookAttempt{OrgID: o.ID, ID: c.ID, Token: c.Token, At: at(100), Status: 500,
		Error: long, Duration: 42 * time.Millisecond, RetryAt: at(30_000)})
	must(t, err)
	if !ok {
		t.Fatal("attempt not recorded")
	}
	ds, _ := s.ListWebhookDeliveries(ctx, o.ID, roomhub.WebhookDeliveryFilter{})
	d := ds[0]
	if d.Status != roomhub.DeliveryPending || d.Attempts != 1 || d.LastStatus != 500 || d.LastDuration != 42*time.Millisecond ||
		!d.NextAttemptAt.Equal(at(30_000)) || !d.UpdatedAt.Equal(at(100)) || len(d.LastError) > 500 || !strings.HasPrefix(long, d.LastError) || d.LastError == "" {
		t.Fatalf("after a failed attempt: %+v", d)
	}
	if cs, _ := s.ClaimWebhookDeliveries(ctx, at(29_999), time.Minute, 10); len(cs) != 0 {
		t.Fatal("claimed before the retry is due")
	}
	c = claim(at(30_000))
	ok, err = s.RecordWebhookAttempt(ctx, roomhub.WebhookAttempt{OrgID: o.ID, ID: c.ID, Token: c.Token, At: at(30_100), Status: 0, Error: "connection refused"})
	must(t, err)
	if !ok {
		t.Fatal("final attempt not recorded")
	}
	ds, _ = s.ListWebhookDeliveries(ctx, o.ID, roomhub.WebhookDeliveryFilter{})
	if d := ds[0]; d.Status != roomhub.DeliveryFailed || d.Attempts != 2 || d.LastStatus != 0 || d.LastError != "connection refused" {
		t.Fatalf("after giving up: %+v", d)
	}
	if cs, _ := s.ClaimWebhookDeliveries(ctx, at(10_000_000), time.Minute, 10); len(cs) != 0 {
		t.Fatal("a failed delivery was claimed")
	}
}

func testWebhookPrune(t *testing.T, s WebhookStore) {
	ctx := context.Background()
	o := createOrg(t, s, "acme")
	e := createWebhook(t, s, o.ID, "https://a.example/1", roomhub.EventMemberJoined)
	for i := range 3 {
		must(t, s.EnqueueWebhook(ctx, o.ID, fmt.Sprintf("evt_%d", i), roomhub.EventMemberJoined, []byte(`{}`), at(0)))
	}
	cs, err := s.ClaimWebhookDeliveries(ctx, at(0), time.Minute, 2)
	must(t, err)
	for _, c := range cs {
		if ok, err := s.RecordWebhookAttempt(ctx, roomhub.WebhookAttempt{OrgID: o.ID, ID: c.ID, Token: c.Token, At: at(10), Status: 200, Delivered: true}); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	n, err := s.PruneWebhookDeliveries(ctx, at(10))
	must(t, err)
	if n != 0 {
		t.Fatalf("pruned %d deliveries not yet old enough", n)
	}
	n, err = s.PruneWebhookDeliveries(ctx, at(11))
	must(t, err)
	if n != 2 {
		t.Fatalf("pruned %d, want the 2 finished ones", n)
	}
	ds, _ := s.ListWebhookDeliveries(ctx, o.ID, roomhub.WebhookDeliveryFilter{})
	if len(ds) != 1 || ds[0].Status != roomhub.DeliveryPending {
		t.Fatalf("a pending delivery was pruned: %+v", ds)
	}
	must(t, s.DeleteWebhookEndpoint(ctx, o.ID, e.ID))
	ds, _ = s.ListWebhookDeliveries(ctx, o.ID, roomhub.WebhookDeliveryFilter{})
	if len(ds) != 0 {
		t.Fatalf("deliveries outlive their endpoint: %+v", ds)
	}
}
