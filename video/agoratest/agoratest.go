// Package agoratest is a local stand-in for the two Agora services Roomhub
// talks to, behaving as Agora documents them: the Channel Management REST
// API's kicking rules (HTTP Basic authentication with the Customer ID and
// Secret, JSON bodies, 10 requests per second per account) and the
// Notifications service, which POSTs channel events signed with
// HMAC-SHA256 (Agora-Signature-V2) and HMAC-SHA1 (Agora-Signature) over the
// raw body. Its channels are a model of Agora's: users join and leave them,
// a kicking rule removes a user at once and keeps them out until it
// expires, and every change is notified.
package agoratest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Channel event types of the Notifications service (RTC, product 1).
const (
	EventChannelCreate    = 101
	EventChannelDestroy   = 102
	EventBroadcasterJoin  = 103
	EventBroadcasterLeave = 104
	EventAudienceJoin     = 105
	EventAudienceLeave    = 106
	EventCommJoin         = 107
	EventCommLeave        = 108
)

// ErrBanned is Join's refusal while a kicking rule holds.
var ErrBanned = errors.New("agoratest: a kicking rule keeps this user out")

// Rule is a kicking rule as created.
type Rule struct {
	ID            int64
	Account       string
	AppID         string
	Channel       string
	UID           uint32
	TimeInSeconds int
	Privileges    []string
	Created       time.Time
}

// Server is the fake. Its zero value is not usable; call New.
type Server struct {
	*httptest.Server

	// Accounts are the valid Customer ID → Customer Secret pairs; AppIDs
	// the projects they may name.
	Accounts map[string]string
	AppIDs   map[string]bool
	// NotifyURL and NCSSecret, when set, receive and sign the channel
	// events; Client posts them.
	NotifyURL string
	NCSSecret string
	Client    *http.Client

	mu        sync.Mutex
	rules     []Rule
	calls     map[string][]time.Time // per account, for the rate limit
	limited   int
	refused   int
	nextID    int64
	notices   int
	seq       map[string]int64 // clientSeq per channel/uid
	channels  map[string]map[uint32]bool
	delivered []Delivery
	wg        sync.WaitGroup
}

// Delivery is a notification the fake sent and the status it got.
type Delivery struct {
	EventType int
	Channel   string
	UID       uint32
	Status    int
}

// New starts a fake with one account and one project.
func New(customerID, customerSecret, appID string) *Server {
	s := &Server{Accounts: map[string]string{customerID: customerSecret}, AppIDs: map[string]bool{appID: true},
		calls: map[string][]time.Time{}, seq: map[string]int64{}, channels: map[string]map[uint32]bool{}, nextID: 1000}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /dev/v1/kicking-rule", s.createRule)
	s.Server = httptest.NewServer(mux)
	return s
}

// Close stops the server after the notifications in flight.
func (s *Server) Close() {
	s.wg.Wait()
	s.Server.Close()
}

func answer(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) createRule(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	s.mu.Lock()
	if !ok || s.Accounts[id] == "" || s.Accounts[id] != secret {
		s.refused++
		s.mu.Unlock()
		answer(w, http.StatusUnauthorized, map[string]string{"message": "Invalid authentication credentials"})
		return
	}
	now := time.Now()
	recent := s.calls[id][:0]
	for _, t := range s.calls[id] {
		if now.Sub(t) < time.Second {
			recent = append(recent, t)
		}
	}
	s.calls[id] = append(recent, now)
	if len(recent) >= 10 {
		s.limited++
		s.mu.Unlock()
		answer(w, http.StatusTooManyRequests, map[string]string{"message": "Too Many Requests"})
		return
	}
	s.mu.Unlock()

	var body struct {
		AppID         string   `json:"appid"`
		Channel       string   `json:"cname"`
		UID           *uint32  `json:"uid"`
		TimeInSeconds *int     `json:"time_in_seconds"`
		Privileges    []string `json:"privileges"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	bad := func(msg string) {
		s.mu.Lock()
		s.refused++
		s.mu.Unlock()
		answer(w, http.StatusBadRequest, map[string]string{"message": msg})
	}
	switch {
	case r.Header.Get("Content-Type") != "application/json":
		bad("Content-Type must be application/json")
	case dec.Decode(&body) != nil:
		bad("invalid JSON body")
	case !s.AppIDs[body.AppID]:
		bad("invalid appid")
	case body.Channel == "":
		bad("cname is required for a user's rule in a channel")
	case body.UID == nil || *body.UID == 0:
		bad("uid must not be 0")
	case body.TimeInSeconds == nil || *body.TimeInSeconds < 10 || *body.TimeInSeconds > 86430:
		bad("time_in_seconds out of [10, 86430]")
	case len(body.Privileges) != 1 || body.Privileges[0] != "join_channel":
		bad("privileges must be [\"join_channel\"]")
	default:
		s.mu.Lock()
		s.nextID++
		rule := Rule{ID: s.nextID, Account: id, AppID: body.AppID, Channel: body.Channel, UID: *body.UID,
			TimeInSeconds: *body.TimeInSeconds, Privileges: body.Privileges, Created: now}
		s.rules = append(s.rules, rule)
		kicked := s.channels[body.Channel][*body.UID]
		if kicked {
			delete(s.channels[body.Channel], *body.UID)
		}
		s.mu.Unlock()
		if kicked {
			s.notify(EventCommLeave, body.Channel, *body.UID)
		}
		answer(w, http.StatusOK, map[string]any{"status": "success", "id": rule.ID})
	}
}

// Join puts uid in channel, as a client with a valid token would, and
// notifies it; refused while a rule holds.
func (s *Server) Join(channel string, uid uint32) error {
	s.mu.Lock()
	for _, r := range s.rules {
		if r.Channel == channel && r.UID == uid && time.Since(r.Created) < time.Duration(r.TimeInSeconds)*time.Second {
			s.mu.Unlock()
			return ErrBanned
		}
	}
	if s.channels[channel] == nil {
		s.channels[channel] = map[uint32]bool{}
	}
	s.channels[channel][uid] = true
	s.mu.Unlock()
	s.notify(EventCommJoin, channel, uid)
	return nil
}

// Leave takes uid out of channel and notifies it.
func (s *Server) Leave(channel string, uid uint32) {
	s.mu.Lock()
	in := s.channels[channel][uid]
	delete(s.channels[channel], uid)
	s.mu.Unlock()
	if in {
		s.notify(EventCommLeave, channel, uid)
	}
}

// In reports whether uid is in channel.
func (s *Server) In(channel string, uid uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.channels[channel][uid]
}

// Rules returns the rules created so far.
func (s *Server) Rules() []Rule {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Rule(nil), s.rules...)
}

// Limited is how many calls the rate limit refused; Refused how many were
// refused for their credentials or body.
func (s *Server) Limited() int { s.mu.Lock(); defer s.mu.Unlock(); return s.limited }
func (s *Server) Refused() int { s.mu.Lock(); defer s.mu.Unlock(); return s.refused }

// Deliveries returns the notifications sent so far.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.delivered...)
}

// Notice is a notification body as Agora sends it.
type Notice struct {
	NoticeID  string  `json:"noticeId"`
	ProductID int     `json:"productId"`
	EventType int     `json:"eventType"`
	NotifyMs  int64   `json:"notifyMs"`
	SID       string  `json:"sid"`
	Payload   Payload `json:"payload"`
}

// Payload is a channel event's details.
type Payload struct {
	ChannelName string `json:"channelName"`
	UID         uint32 `json:"uid"`
	ClientSeq   int64  `json:"clientSeq"`
	Platform    int    `json:"platform"`
	Reason      int    `json:"reason,omitempty"`
	TS          int64  `json:"ts"`
}

// NewNotice makes the next notice of an event, numbering its clientSeq.
func (s *Server) NewNotice(eventType int, channel string, uid uint32) Notice {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notices++
	k := fmt.Sprintf("%s/%d", channel, uid)
	s.seq[k]++
	now := time.Now()
	return Notice{NoticeID: fmt.Sprintf("%d:%d:%d", 2000000000+s.notices, 4330, eventType), ProductID: 1, EventType: eventType,
		NotifyMs: now.UnixMilli(), SID: fmt.Sprintf("sid-%d", s.notices),
		Payload: Payload{ChannelName: channel, UID: uid, ClientSeq: now.UnixMilli()*1000 + s.seq[k], Platform: 7, TS: now.Unix()}}
}

// Sign returns the Agora-Signature-V2 and Agora-Signature of body.
func Sign(secret string, body []byte) (v2, v1 string) {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	m1 := hmac.New(sha1.New, []byte(secret))
	m1.Write(body)
	return hex.EncodeToString(m.Sum(nil)), hex.EncodeToString(m1.Sum(nil))
}

// Post delivers a body with the given V2 signature ("" for none) to url,
// returning the status.
func Post(c *http.Client, url string, body []byte, sigV2 string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if sigV2 != "" {
		req.Header.Set("Agora-Signature-V2", sigV2)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Deliver signs and posts n to NotifyURL, as Agora does.
func (s *Server) Deliver(n Notice) (int, error) {
	body, _ := json.Marshal(n)
	v2, v1 := Sign(s.NCSSecret, body)
	req, err := http.NewRequest(http.MethodPost, s.NotifyURL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Agora-Signature-V2", v2)
	req.Header.Set("Agora-Signature", v1)
	c := s.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	s.mu.Lock()
	s.delivered = append(s.delivered, Delivery{EventType: n.EventType, Channel: n.Payload.ChannelName, UID: n.Payload.UID, Status: resp.StatusCode})
	s.mu.Unlock()
	return resp.StatusCode, nil
}

// notify delivers an event in the background, as Agora does, when a
// receiver is set.
func (s *Server) notify(eventType int, channel string, uid uint32) {
	if s.NotifyURL == "" {
		return
	}
	n := s.NewNotice(eventType, channel, uid)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.Deliver(n)
	}()
}
