package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"roomhub"
	"roomhub/video"
	"roomhub/video/agoratest"
)

// videoIsolationCases: an organization's video settings are its own, and
// a notification endpoint reads only its own organization's channels with
// its own organization's secret.
func videoIsolationCases() map[string]isolationCase {
	setSecret := func(t *testing.T, tn *tenants, org roomhub.Org, secret string) {
		sealed, err := tn.a.box.Seal(secret, video.SecretAAD("ncs_secret", org.ID))
		if err != nil {
			t.Fatal(err)
		}
		if err := tn.a.store.SaveVideoSettings(context.Background(), roomhub.VideoSettings{OrgID: org.ID, NCSSecret: sealed}); err != nil {
			t.Fatal(err)
		}
	}
	notice := func(org roomhub.Org, uid uint32) []byte {
		b, _ := json.Marshal(agoratest.Notice{NoticeID: "n-" + org.Slug, ProductID: 1, EventType: agoratest.EventCommJoin, NotifyMs: time.Now().UnixMilli(),
			Payload: agoratest.Payload{ChannelName: channelOf(org, "standup"), UID: uid, ClientSeq: 1}})
		return b
	}
	post := func(t *testing.T, tn *tenants, slug string, body []byte, secret string) int {
		code, err := agoratest.Post(http.DefaultClient, tn.a.srv.URL+"/o/"+slug+"/agora/ncs", body, mustSign(secret, body))
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	inVideo := func(t *testing.T, tn *tenants, org roomhub.Org) int {
		in, err := tn.a.store.InVideo(context.Background(), org.ID, "standup")
		if err != nil {
			t.Fatal(err)
		}
		return len(in)
	}
	return map[string]isolationCase{
		"POST /dashboard/{org}/settings/video": crossOrgDashboard("POST", "/dashboard/{org}/settings/video",
			url.Values{"customer_id": {"acme-customer"}, "customer_secret": {"s3cret"}}, 200),
		"POST /agora/ncs": {
			attack: func(t *testing.T, tn *tenants) {
				setSecret(t, tn, tn.acme, "acme-ncs")
				setSecret(t, tn, tn.globex, "globex-ncs")
				// Acme's secret does not open Globex's endpoint, and a
				// Globex channel event signed by Acme changes nothing.
				if code := post(t, tn, "globex", notice(tn.globex, 5), "acme-ncs"); code != http.StatusUnauthorized {
					t.Fatalf("Acme's secret on Globex's endpoint: %d", code)
				}
				// Acme's endpoint, Acme's secret, a Globex channel: ignored.
				if code := post(t, tn, "acme", notice(tn.globex, 6), "acme-ncs"); code != http.StatusOK {
					t.Fatalf("a foreign channel: %d", code)
				}
				if inVideo(t, tn, tn.globex) != 0 {
					t.Fatal("Acme's endpoint wrote Globex's video state")
				}
			},
			own: func(t *testing.T, tn *tenants) {
				if code := post(t, tn, "acme", notice(tn.acme, 7), "acme-ncs"); code != http.StatusOK || inVideo(t, tn, tn.acme) != 1 {
					t.Fatalf("Acme's own notification: %d", code)
				}
			},
		},
	}
}
