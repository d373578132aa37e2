package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"roomhub"
	"roomhub/config"
	"roomhub/hub"
	"roomhub/room"
	"roomhub/secret"
	"roomhub/server/ncs"
	"roomhub/video/agoratest"
)

const (
	testCustomerID     = "cust-6f1e"
	testCustomerSecret = "cust-secret-9a8b7c"
	testNCSSecret      = "ncs-secret-for-tests"
)

// withAgora is a node on the server's Agora project with its REST and
// notification credentials pointing at fake, which notifies the node.
func withAgora(t *testing.T, mutate ...func(*config.Config)) (*app, *agoratest.Server) {
	t.Helper()
	fake := agoratest.New(testCustomerID, testCustomerSecret, testAppID)
	t.Cleanup(fake.Close)
	a := newApp(t, append([]func(*config.Config){func(c *config.Config) {
		c.AgoraAppID, c.AgoraCertificate = testAppID, testCert
		c.AgoraCustomerID, c.AgoraCustomerSecret, c.AgoraAPIURL = testCustomerID, testCustomerSecret, fake.URL
		c.AgoraNCSSecret = testNCSSecret
		c.AgoraIntruderGrace = 0
	}}, mutate...)...)
	fake.NotifyURL, fake.NCSSecret = a.srv.URL+"/agora/ncs", testNCSSecret
	return a, fake
}

func channelOf(org roomhub.Org, room string) string {
	return "o" + strconv.FormatInt(org.ID, 10) + "-" + room
}

func kickFromDashboard(t *testing.T, owner *user, org, room string, uid uint32) {
	t.Helper()
	res, body := owner.do("POST", "/dashboard/"+org+"/rooms/"+room+"/members/"+strconv.FormatUint(uint64(uid), 10)+"/kick", nil,
		map[string]string{"HX-Request": "true", "X-CSRF-Token": owner.csrf})
	wantStatus(t, res, body, http.StatusNoContent)
}

// TestKickReachesTheVideo: Bob is in the room and in its Agora channel; a
// moderator kicks him and, within seconds, Agora has a join_channel rule
// for his uid in that channel, he is out of the channel and cannot rejoin
// it with the token he holds; the live page says "removed from video" and
// the audit log has the outcome. The moderator's request never waited.
func TestKickReachesTheVideo(t *testing.T) {
	a, fake := withAgora(t)
	acme := a.org("acme")
	owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	ch := channelOf(acme, "standup")
	ann, bob := a.browser("/o/acme"), a.browser("/o/acme")
	annUID, bobUID := ann.enter("standup", "Ann"), bob.enter("standup", "Bob")
	for _, uid := range []uint32{annUID, bobUID} {
		if err := fake.Join(ch, uid); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "both in video on the live page", func() bool {
		_, page := owner.page("/dashboard/acme/live")
		return strings.Count(page, `data-video="in video"`) == 2
	})

	kickFromDashboard(t, owner.user, "acme", "standup", bobUID)
	waitFor(t, "Bob out of the Agora channel", func() bool { return !fake.In(ch, bobUID) })
	rules := fake.Rules()
	if len(rules) != 1 || rules[0].UID != bobUID || rules[0].Channel != ch || rules[0].TimeInSeconds != int(max(room.KickBan, a.cfg.AgoraTokenTTL)/time.Second) {
		t.Fatalf("rules: %+v", rules)
	}
	if err := fake.Join(ch, bobUID); err != agoratest.ErrBanned {
		t.Fatalf("Bob rejoined the video with his token: %v", err)
	}
	if !fake.In(ch, annUID) {
		t.Fatal("Ann was removed too")
	}
	waitFor(t, "the outcome on the live page", func() bool {
		_, page := owner.page("/dashboard/acme/live")
		return strings.Contains(page, "removed from video") && strings.Contains(page, "Bob")
	})
	waitFor(t, "the audit row", func() bool {
		rows, _ := a.store.QueryAudit(context.Background(), acme.ID, roomhub.AuditFilter{Action: "video.remove", Limit: 5})
		return len(rows) == 1 && rows[0].Success && rows[0].ObjectID == "standup/"+strconv.FormatUint(uint64(bobUID), 10)
	})
	if fake.Limited() != 0 || fake.Refused() != 0 {
		t.Fatalf("the fake refused calls: limited %d, refused %d", fake.Limited(), fake.Refused())
	}
}

// TestCloseRemovesEveryoneFromTheVideo: closing a room asks for a rule for
// every member and for every uid in its video without a member.
func TestCloseRemovesEveryoneFromTheVideo(t *testing.T) {
	a, fake := withAgora(t)
	acme := a.org("acme")
	owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	ch := channelOf(acme, "standup")
	var uids []uint32
	for _, name := range []string{"Ann", "Bob", "Cat"} {
		uid := a.browser("/o/acme").enter("standup", name)
		uids = append(uids, uid)
		fake.Join(ch, uid)
	}
	fake.Join(ch, 777) // someone with a leaked token
	waitFor(t, "the intruder recorded", func() bool { return a.video.Stats.Intruders.Load() == 1 })
	res, body := owner.do("POST", "/dashboard/acme/rooms/standup/close", nil, map[string]string{"HX-Request": "true", "X-CSRF-Token": owner.csrf})
	wantStatus(t, res, body, http.StatusNoContent)
	waitFor(t, "the channel empty", func() bool {
		for _, uid := range append(uids, 777) {
			if fake.In(ch, uid) {
				return false
			}
		}
		return true
	})
	if n := len(fake.Rules()); n != 4 {
		t.Fatalf("%d rules, want 4", n)
	}
}

// TestWithoutRESTCredentialsKicksWorkAsBefore: no Customer ID: the kick
// closes sockets as it always did, nothing is asked of Agora, and the
// settings page says what is missing.
func TestWithoutRESTCredentialsKicksWorkAsBefore(t *testing.T) {
	fake := agoratest.New(testCustomerID, testCustomerSecret, testAppID)
	defer fake.Close()
	a := newApp(t, func(c *config.Config) {
		c.AgoraAppID, c.AgoraCertificate, c.AgoraAPIURL = testAppID, testCert, fake.URL
	})
	acme := a.org("acme")
	owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	bobUID := a.browser("/o/acme").enter("standup", "Bob")
	kickFromDashboard(t, owner.user, "acme", "standup", bobUID)
	if _, err := a.node.Member(context.Background(), hub.Key{Org: acme.ID, Room: "standup"}, bobUID); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
		t.Fatalf("Bob still a member: %v", err)
	}
	if list, _ := a.store.ListVideoActions(context.Background(), acme.ID, 10); len(list) != 0 || len(fake.Rules()) != 0 {
		t.Fatalf("a removal was attempted: %+v", list)
	}
	_, page := owner.page("/dashboard/acme/settings")
	for _, want := range []string{`id="video-missing"`, "Customer ID and Customer Secret", "notification secret"} {
		if !strings.Contains(page, want) {
			t.Fatalf("settings page lacks %q", want)
		}
	}
	// Live page: no video badges when notifications are not set up.
	if _, live := owner.page("/dashboard/acme/live"); strings.Contains(live, "data-video") {
		t.Fatal("the live page claims to know who is in the video")
	}
}

// TestAgoraNotificationsFromTheAttackersSide: only bodies signed with the
// organization's notification secret are read; duplicates and events out
// of order change nothing; size is capped.
func TestAgoraNotificationsFromTheAttackersSide(t *testing.T) {
	a, fake := withAgora(t)
	acme := a.org("acme")
	globex := a.org("globex")
	ctx := context.Background()
	key := hub.Key{Org: acme.ID, Room: "standup"}
	uid := a.browser("/o/acme").enter("standup", "Ann")
	ch := channelOf(acme, "standup")
	ncsURL := a.srv.URL + "/agora/ncs"
	c := http.DefaultClient
	inVideo := func() bool {
		in, err := a.store.InVideo(ctx, key.Org, key.Room)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range in {
			if p.UID == uid {
				return true
			}
		}
		return false
	}
	post := func(n agoratest.Notice, secret string) int {
		body, _ := json.Marshal(n)
		sig, _ := agoratest.Sign(secret, body)
		code, err := agoratest.Post(c, ncsURL, body, sig)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	join := fake.NewNotice(agoratest.EventCommJoin, ch, uid)
	leave := fake.NewNotice(agoratest.EventCommLeave, ch, uid)

	t.Run("refusals", func(t *testing.T) {
		body, _ := json.Marshal(join)
		good, _ := agoratest.Sign(testNCSSecret, body)
		v1Only, _ := agoratest.Sign(testNCSSecret, body)
		_, sha1 := agoratest.Sign(testNCSSecret, body)
		tampered := strings.Replace(string(body), `"channelName":"`+ch, `"channelName":"`+channelOf(globex, "standup"), 1)
		stale := join
		stale.NoticeID, stale.NotifyMs = "stale-1", time.Now().Add(-25*time.Hour).UnixMilli()
		staleBody, _ := json.Marshal(stale)
		staleSig, _ := agoratest.Sign(testNCSSecret, staleBody)
		junkSig, _ := agoratest.Sign(testNCSSecret, []byte(`{"hello":"world"}`))
		big := make([]byte, ncs.DefaultMaxNoticeBytes+1)
		for i := range big {
			big[i] = ' '
		}
		bigSig, _ := agoratest.Sign(testNCSSecret, big)
		_ = v1Only
		for _, tc := range []struct {
			name string
			url  string
			body []byte
			sig  string
			want int
		}{
			{"unsigned", ncsURL, body, "", http.StatusUnauthorized},
			{"signed with another secret", ncsURL, body, mustSign("guessed", body), http.StatusUnauthorized},
			{"the SHA-1 signature in the V2 header", ncsURL, body, sha1, http.StatusUnauthorized},
			{"not hex", ncsURL, body, "zz" + good[2:], http.StatusUnauthorized},
			{"body changed after signing", ncsURL, []byte(tampered), good, http.StatusUnauthorized},
			{"signed junk", ncsURL, []byte(`{"hello":"world"}`), junkSig, http.StatusBadRequest},
			{"replayed a day later", ncsURL, staleBody, staleSig, http.StatusBadRequest},
			{"too large", ncsURL, big, bigSig, http.StatusRequestEntityTooLarge},
			{"an organization with no secret", a.srv.URL + "/o/globex/agora/ncs", body, good, http.StatusNotFound},
			{"an unknown organization", a.srv.URL + "/o/nobody/agora/ncs", body, good, http.StatusNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, err := agoratest.Post(c, tc.url, tc.body, tc.sig)
				if err != nil || code != tc.want {
					t.Fatalf("status %d, %v; want %d", code, err, tc.want)
				}
				if inVideo() {
					t.Fatal("a refused notification changed the video state")
				}
			})
		}
		// Every refusal but the unknown organization's, which is the
		// router's plain 404.
		if n := strings.Count(a.logs.String(), `"event":"agora_ncs_refused"`); n != 9 {
			t.Fatalf("%d refusals logged as security events, want 9", n)
		}
		if !strings.Contains(a.logs.String(), `"reason":"unauthorized"`) || !strings.Contains(a.logs.String(), `"reason":"too_large"`) {
			t.Fatal("the log does not say why notifications were refused")
		}
		if a.video.Stats.Unsigned.Load() != 5 || a.video.Stats.Malformed.Load() != 3 || a.video.Stats.Unconfigure.Load() != 1 {
			t.Fatalf("refusals counted: unsigned %d, malformed %d, unconfigured %d",
				a.video.Stats.Unsigned.Load(), a.video.Stats.Malformed.Load(), a.video.Stats.Unconfigure.Load())
		}
	})

	t.Run("out of order and duplicates", func(t *testing.T) {
		// The leave (later clientSeq) arrives first, then the join late,
		// then both again: Ann is not in the video.
		for _, n := range []agoratest.Notice{leave, join, leave, join} {
			if code := post(n, testNCSSecret); code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
		}
		if inVideo() {
			t.Fatal("a late join overrode the later leave")
		}
		// A new join (a new clientSeq) counts; its replay does not undo
		// the leave that follows.
		again := fake.NewNotice(agoratest.EventCommJoin, ch, uid)
		post(again, testNCSSecret)
		if !inVideo() {
			t.Fatal("a new join was ignored")
		}
		out := fake.NewNotice(agoratest.EventCommLeave, ch, uid)
		post(out, testNCSSecret)
		post(again, testNCSSecret)
		if inVideo() {
			t.Fatal("a replayed join put Ann back in the video")
		}
	})

	t.Run("the server's endpoint reads only the server's project", func(t *testing.T) {
		// Initech has its own Agora project: its channels' events come to
		// its own endpoint, so one claimed on the server's is ignored.
		initech := a.org("initech")
		cert, err := a.box.Seal(strings.ToLower(testCert), secretAAD(initech.ID))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.store.SaveOrgSettings(ctx, roomhub.OrgSettings{OrgID: initech.ID, AgoraAppID: strings.Repeat("ab", 16), AgoraCertificate: cert}); err != nil {
			t.Fatal(err)
		}
		iuid := a.browser("/o/initech").enter("standup", "Ivy")
		if code := post(fake.NewNotice(agoratest.EventCommJoin, channelOf(initech, "standup"), iuid), testNCSSecret); code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		if in, _ := a.store.InVideo(ctx, initech.ID, "standup"); len(in) != 0 {
			t.Fatalf("the server's endpoint wrote Initech's video state: %+v", in)
		}
	})

	t.Run("an organization's own secret", func(t *testing.T) {
		owner := a.signedIn(globex, "gus@globex.example", roomhub.RoleOwner)
		res, body := owner.form("/dashboard/globex/settings/video", url.Values{"ncs_secret": {"globex-own-secret"}})
		wantStatus(t, res, body, http.StatusOK)
		if strings.Contains(body, "globex-own-secret") {
			t.Fatal("the settings page shows the secret")
		}
		gch := channelOf(globex, "standup")
		guid := a.browser("/o/globex").enter("standup", "Gus")
		n := fake.NewNotice(agoratest.EventCommJoin, gch, guid)
		nb, _ := json.Marshal(n)
		// The server's secret is not Globex's; Globex's works; Acme's
		// channel sent to Globex's endpoint is ignored.
		if code, _ := agoratest.Post(c, a.srv.URL+"/o/globex/agora/ncs", nb, mustSign(testNCSSecret, nb)); code != http.StatusUnauthorized {
			t.Fatalf("server secret on Globex's endpoint: %d", code)
		}
		if code, _ := agoratest.Post(c, a.srv.URL+"/o/globex/agora/ncs", nb, mustSign("globex-own-secret", nb)); code != http.StatusOK {
			t.Fatalf("Globex's own secret: %d", code)
		}
		cross := fake.NewNotice(agoratest.EventCommJoin, ch, 4242)
		cb, _ := json.Marshal(cross)
		agoratest.Post(c, a.srv.URL+"/o/globex/agora/ncs", cb, mustSign("globex-own-secret", cb))
		if in, _ := a.store.InVideo(ctx, acme.ID, "standup"); len(in) != 0 {
			t.Fatalf("Globex's endpoint wrote Acme's video state: %+v", in)
		}
		if in, _ := a.store.InVideo(ctx, globex.ID, "standup"); len(in) != 1 || in[0].UID != guid {
			t.Fatalf("Globex's video: %+v", in)
		}
	})
}

func secretAAD(org int64) string {
	return secret.AAD(roomhub.SealedSecret{Table: "org_settings", Column: "agora_certificate", ID: org})
}

func mustSign(secret string, body []byte) string {
	s, _ := agoratest.Sign(secret, body)
	return s
}

// TestIntruderShownCountedReportedAndRemoved: a uid with no member behind
// it joins the video: the live page shows it, the metric counts it, a
// video_intruder webhook is queued; with automatic removal enabled, a
// kicking rule takes it out.
func TestIntruderShownCountedReportedAndRemoved(t *testing.T) {
	a, fake := withAgora(t)
	acme := a.org("acme")
	ctx := context.Background()
	owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	hook, err := a.store.CreateWebhookEndpoint(ctx, roomhub.WebhookEndpoint{OrgID: acme.ID, URL: "https://hooks.example/in", Events: []string{roomhub.EventVideoIntruder}},
		func(int64) (string, error) { return "v1.sealed", nil })
	if err != nil {
		t.Fatal(err)
	}
	ch := channelOf(acme, "standup")
	annUID := a.browser("/o/acme").enter("standup", "Ann")
	fake.Join(ch, annUID)
	fake.Join(ch, 31337)
	waitFor(t, "the intruder on the live page", func() bool {
		_, page := owner.page("/dashboard/acme/live")
		return strings.Contains(page, `class="intruder" data-uid="31337"`)
	})
	if n := a.video.Stats.Intruders.Load(); n != 1 {
		t.Fatalf("intruders counted: %d", n)
	}
	waitFor(t, "the webhook delivery", func() bool {
		ds, _ := a.store.ListWebhookDeliveries(ctx, acme.ID, roomhub.WebhookDeliveryFilter{EndpointID: hook.ID, Limit: 10})
		return len(ds) == 1 && ds[0].Type == roomhub.EventVideoIntruder && strings.Contains(string(ds[0].Payload), `"uid":31337`)
	})
	if !fake.In(ch, 31337) || len(fake.Rules()) != 0 {
		t.Fatal("removed without the organization asking for it")
	}

	res, body := owner.form("/dashboard/acme/settings/video", url.Values{"remove_intruders": {"1"}})
	wantStatus(t, res, body, http.StatusOK)
	fake.Join(ch, 31338)
	waitFor(t, "the second intruder removed", func() bool { return !fake.In(ch, 31338) })
	if rules := fake.Rules(); len(rules) != 1 || rules[0].UID != 31338 {
		t.Fatalf("rules: %+v", rules)
	}
	if !fake.In(ch, annUID) {
		t.Fatal("a member was removed as an intruder")
	}
}

// TestVideoAcrossNodes: Agora's notifications reach node A; the dashboard
// is on node B. Node B's live page shows who is in the video (the state is
// in the shared store, the change announced on the shared bus), a kick
// from node B reaches Agora, and node A's live page shows the outcome.
func TestVideoAcrossNodes(t *testing.T) {
	fake := agoratest.New(testCustomerID, testCustomerSecret, testAppID)
	t.Cleanup(fake.Close)
	cfg := testConfig()
	cfg.AgoraAppID, cfg.AgoraCertificate = testAppID, testCert
	cfg.AgoraCustomerID, cfg.AgoraCustomerSecret, cfg.AgoraAPIURL = testCustomerID, testCustomerSecret, fake.URL
	cfg.AgoraNCSSecret = testNCSSecret
	nodes, _, _ := clusterWith(t, 2, cfg)
	na, nb := nodes[0], nodes[1]
	fake.NotifyURL, fake.NCSSecret = na.srv.URL+"/agora/ncs", testNCSSecret
	acme := na.org("acme")
	owner := na.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	onB := owner.on(nb)
	live := onB.stream("/dashboard/acme/live/events")
	live.next(t, "the snapshot")

	ch := channelOf(acme, "standup")
	annUID := na.browser("/o/acme").enter("standup", "Ann")
	if err := fake.Join(ch, annUID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ev := live.next(t, "Ann in the video, on node B")
		if strings.Contains(ev.data, `data-video="in video"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node B never showed Ann in the video: %.400s", ev.data)
		}
	}
	kickFromDashboard(t, onB, "acme", "standup", annUID)
	waitFor(t, "Ann out of the channel", func() bool { return !fake.In(ch, annUID) })
	waitFor(t, "the outcome on node A's page", func() bool {
		_, page := owner.page("/dashboard/acme/live")
		return strings.Contains(page, "removed from video")
	})
}

// TestVideoSettingsPerOrganization: an organization sets its own Agora
// account on the Settings page: the secret is sealed and never shown, the
// change is audited, its kicks use that account, and bad input is a 400
// with a sentence.
func TestVideoSettingsPerOrganization(t *testing.T) {
	a, fake := withAgora(t)
	fake.Accounts["globex-customer"] = "globex-customer-secret"
	globex := a.org("globex")
	ctx := context.Background()
	owner := a.signedIn(globex, "gus@globex.example", roomhub.RoleOwner)
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"secret without an id", url.Values{"customer_secret": {"x"}}, "Enter the Customer ID with its secret."},
		{"id without a secret", url.Values{"customer_id": {"globex-customer"}}, "Enter the Customer Secret too."},
		{"too long", url.Values{"customer_id": {strings.Repeat("x", 129)}, "customer_secret": {"x"}}, "at most 128 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := owner.form("/dashboard/globex/settings/video", tc.form)
			wantStatus(t, res, body, http.StatusBadRequest)
			if !strings.Contains(body, tc.want) {
				t.Fatalf("no %q in %.300s", tc.want, body)
			}
		})
	}
	res, body := owner.form("/dashboard/globex/settings/video", url.Values{"customer_id": {"globex-customer"}, "customer_secret": {"globex-customer-secret"}})
	wantStatus(t, res, body, http.StatusOK)
	if strings.Contains(body, "globex-customer-secret") || !strings.Contains(body, "Customer ID globex-customer") {
		t.Fatalf("settings page after saving: %.2000s", body)
	}
	st, _ := a.store.VideoSettings(ctx, globex.ID)
	if st.CustomerSecret == "" || strings.Contains(st.CustomerSecret, "globex-customer-secret") {
		t.Fatalf("the secret is not sealed: %q", st.CustomerSecret)
	}
	if rows, _ := a.store.QueryAudit(ctx, globex.ID, roomhub.AuditFilter{Action: "video_settings.update", Limit: 5}); len(rows) != 1 || rows[0].ActorName != "gus@globex.example" {
		t.Fatalf("audit: %+v", rows)
	}
	uid := a.browser("/o/globex").enter("standup", "Gil")
	kickFromDashboard(t, owner.user, "globex", "standup", uid)
	waitFor(t, "the rule", func() bool { return len(fake.Rules()) == 1 })
	if r := fake.Rules()[0]; r.Account != "globex-customer" || r.UID != uid {
		t.Fatalf("rule %+v: not made with Globex's account", r)
	}
	// Saving again without the secret keeps it.
	res, body = owner.form("/dashboard/globex/settings/video", url.Values{"customer_id": {"globex-customer"}, "remove_intruders": {"1"}})
	wantStatus(t, res, body, http.StatusOK)
	if again, _ := a.store.VideoSettings(ctx, globex.ID); again.CustomerSecret != st.CustomerSecret || !again.RemoveIntruders {
		t.Fatalf("an empty secret field changed the stored one: %+v", again)
	}
}
