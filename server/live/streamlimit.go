package live

import (
	"net/http"
	"strconv"
	"sync"

	"roomhub"
	"roomhub/server/web"
)

// Defaults of the per-user and per-organization live stream limits
// (MAX_LIVE_STREAMS_PER_USER, MAX_LIVE_STREAMS_PER_ORG), beside the
// per-node MAX_LIVE_STREAMS: without them one signed-in viewer could open
// every stream a node allows and leave every other organization's live
// page refused.
const (
	DefaultMaxLiveStreamsPerUser = 10
	DefaultMaxLiveStreamsPerOrg  = 100
)

// streamCounts counts open streams by key ("user:<id>", "org:<id>") on
// this node.
type streamCounts struct {
	mu sync.Mutex
	n  map[string]int
}

// acquire takes one place under key if fewer than max are taken.
func (c *streamCounts) acquire(key string, max int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	if c.n[key] >= max {
		return false
	}
	c.n[key]++
	return true
}

// release gives back a place taken by acquire.
func (c *streamCounts) release(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key]--; c.n[key] <= 0 {
		delete(c.n, key)
	}
}

// acquireLiveStream takes a place for the request's user and organization,
// or answers 429 and returns nil. The returned func gives both back.
func (s *Handler) acquireLiveStream(w http.ResponseWriter, r *http.Request) func() {
	st := web.StateOf(r)
	perUser, perOrg := s.cfg.MaxLiveStreamsPerUser, s.cfg.MaxLiveStreamsPerOrg
	if perUser <= 0 {
		perUser = DefaultMaxLiveStreamsPerUser
	}
	if perOrg <= 0 {
		perOrg = DefaultMaxLiveStreamsPerOrg
	}
	var userID int64
	if st.User != nil {
		userID = st.User.User.ID
	}
	userKey := "user:" + strconv.FormatInt(userID, 10)
	orgKey := "org:" + strconv.FormatInt(st.Dash.Org.ID, 10)
	if !s.streams.acquire(userKey, perUser) {
		s.Security(r, "live_stream_limit", "limit", "user", "max", perUser)
		s.Fail(w, r, roomhub.Errorf(roomhub.ERATELIMIT, "You have %d live pages open already. Close one and reload.", perUser))
		return nil
	}
	if !s.streams.acquire(orgKey, perOrg) {
		s.streams.release(userKey)
		s.Security(r, "live_stream_limit", "limit", "organization", "max", perOrg)
		s.Fail(w, r, roomhub.Errorf(roomhub.ERATELIMIT, "This organization has %d live pages open already. Try again later.", perOrg))
		return nil
	}
	return func() {
		s.streams.release(orgKey)
		s.streams.release(userKey)
	}
}
