// Package video makes Roomhub's moderation reach the Agora video channel
// and tells Roomhub who is actually in it.
//
// Outbound, a kick or a closed room becomes a kicking rule of Agora's
// Channel Management REST API (POST /dev/v1/kicking-rule, privilege
// join_channel): the uid is removed from the channel and cannot rejoin
// until the rule expires, whatever token it holds. Calls go through a
// queue, never the moderator's request, within Agora's 10 requests per
// second per account, retried with backoff.
//
// Inbound, Agora's Notifications (NCS) POST channel events signed with
// HMAC-SHA256 over the raw body; Roomhub verifies them, drops duplicates by
// noticeId, orders each user's events by clientSeq and records who is in
// each room's video. A uid in the video with no member behind it is an
// intruder: shown, counted, sent as a webhook event and, when the
// organization asks for it, removed.
package video

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultAPIURL is Agora's REST API; AGORA_API_URL overrides it (regional
// endpoints, tests).
const DefaultAPIURL = "https://api.agora.io"

// Agora's bounds on a kicking rule's time_in_seconds: values outside are
// clamped by Agora; Roomhub clamps first so the duration it records is the
// one in force.
const (
	MinRule = 10 * time.Second
	MaxRule = 86430 * time.Second
)

// Account is an Agora account's RESTful credentials (Customer ID and
// Customer Secret, from the console's RESTful API page). Agora's rate limit
// counts per account, not per project.
type Account struct {
	CustomerID     string
	CustomerSecret string
}

// Client calls Agora's Channel Management REST API.
type Client struct {
	BaseURL string       // DefaultAPIURL when empty
	HTTP    *http.Client // a client with a 20 s timeout when nil
}

// APIError is a refusal or failure of Agora's API. Temporary ones (429, 5xx,
// the network) are worth retrying; the others are not.
type APIError struct {
	Status     int // 0 when no answer came
	Message    string
	Temporary  bool
	RetryAfter time.Duration // from a 429's Retry-After, if any
}

func (e *APIError) Error() string {
	if e.Status == 0 {
		return "Agora did not answer: " + e.Message
	}
	return fmt.Sprintf("Agora answered %d: %s", e.Status, e.Message)
}

// rule is the body of POST /dev/v1/kicking-rule.
type rule struct {
	AppID         string   `json:"appid"`
	Channel       string   `json:"cname"`
	UID           uint32   `json:"uid"`
	TimeInSeconds int      `json:"time_in_seconds"`
	Privileges    []string `json:"privileges"`
}

// Ban creates a join_channel kicking rule for uid in channel lasting d
// (clamped to [MinRule, MaxRule]) and returns the rule's id.
func (c *Client) Ban(ctx context.Context, acct Account, appID, channel string, uid uint32, d time.Duration) (int64, error) {
	d = min(max(d, MinRule), MaxRule)
	body, _ := json.Marshal(rule{AppID: appID, Channel: channel, UID: uid, TimeInSeconds: int(d / time.Second), Privileges: []string{"join_channel"}})
	base := c.BaseURL
	if base == "" {
		base = DefaultAPIURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/dev/v1/kicking-rule", bytes.NewReader(body))
	if err != nil {
		return 0, &APIError{Message: err.Error()}
	}
	req.SetBasicAuth(acct.CustomerID, acct.CustomerSecret)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 20 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, &APIError{Message: err.Error(), Temporary: true}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<10))
	var out struct {
		Status  string `json:"status"`
		ID      int64  `json:"id"`
		Message string `json:"message"`
	}
	jerr := json.Unmarshal(raw, &out)
	if resp.StatusCode == http.StatusOK && jerr == nil && out.Status == "success" {
		return out.ID, nil
	}
	e := &APIError{Status: resp.StatusCode, Message: out.Message}
	if e.Message == "" {
		e.Message = strings.TrimSpace(string(raw[:min(len(raw), 200)]))
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		e.Message = "the Customer ID and Customer Secret were refused"
	case resp.StatusCode == http.StatusTooManyRequests:
		e.Temporary = true
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
	case resp.StatusCode >= 500:
		e.Temporary = true
	case resp.StatusCode == http.StatusOK:
		e.Message = "unexpected answer: " + e.Message
	}
	return 0, e
}

// temporary reports whether err is worth retrying.
func temporary(err error) (bool, time.Duration) {
	var e *APIError
	if errors.As(err, &e) {
		return e.Temporary, e.RetryAfter
	}
	return false, 0
}
