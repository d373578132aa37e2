package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/httprate"

	"roomhub"
)

// Limit is a number of requests per window.
type Limit struct {
	Requests int
	Window   time.Duration
}

// The rate limits, in one table: every limit a route applies is named
// here, with the seed it comes from. Routes sharing a name share one budget.
var (
	// Participant routes, per client IP, from the seed.
	LimitGetToken     = Limit{Requests: 10, Window: time.Minute}
	LimitCreateMember = Limit{Requests: 30, Window: time.Minute}
	LimitGetMember    = Limit{Requests: 60, Window: time.Minute}
	LimitDeleteMember = Limit{Requests: 30, Window: time.Minute}
	LimitWebSocket    = Limit{Requests: 60, Window: time.Minute}
	// LimitRoomInvite bounds opening and redeeming invite links per client IP.
	LimitRoomInvite = Limit{Requests: 30, Window: time.Hour}

	// Account routes, per client IP, from the seed.
	LimitLogin         = Limit{Requests: 10, Window: time.Hour}
	LimitPasswordReset = Limit{Requests: 5, Window: time.Hour}

	// LimitKeyOps bounds API key creations and revocations per user, from
	// the seed's "token" scope.
	LimitKeyOps = Limit{Requests: 20, Window: time.Hour}
	// LimitWebhookOps bounds webhook changes and test events per user, so
	// the test button cannot turn Roomhub into a request cannon.
	LimitWebhookOps = Limit{Requests: 60, Window: time.Hour}

	// Server API rate limits, from the seed: per key for authenticated
	// calls, per client IP for calls without a valid key.
	LimitAPIKey       = Limit{Requests: 1000, Window: time.Hour}
	LimitAPIAnonymous = Limit{Requests: 50, Window: time.Hour}
)

// Limit applies a per-client-IP rate limit. Over it: 429 with Retry-After
// and a JSON body saying the limit and when to retry.
func (s *Kit) Limit(name string, l Limit) func(http.Handler) http.Handler {
	return s.LimitBy(name, l, func(r *http.Request) string { return StateOf(r).IP.String() })
}

// LimitBy applies a rate limit counted per key(r): a user, an API key.
// Routes sharing a limit name share one budget (login and its second
// factor, the two link forms), so the limiter is made once per name.
func (s *Kit) LimitBy(name string, l Limit, key func(*http.Request) string) func(http.Handler) http.Handler {
	if mw, ok := s.limiters[name]; ok {
		return mw
	}
	mw := s.newLimiter(name, l, key)
	s.limiters[name] = mw
	return mw
}

func (s *Kit) newLimiter(name string, l Limit, key func(*http.Request) string) func(http.Handler) http.Handler {
	opts := []httprate.Option{
		httprate.WithKeyFuncs(func(r *http.Request) (string, error) {
			return name + "|" + key(r), nil
		}),
		httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
			if StateOf(r).limitFailed {
				return
			}
			retry, _ := strconv.Atoi(w.Header().Get("Retry-After"))
			if retry <= 0 {
				retry = int(l.Window / time.Second)
				w.Header().Set("Retry-After", strconv.Itoa(retry))
			}
			s.Security(r, "rate_limited", "limit", name)
			s.obs.RateLimited(name)
			WriteJSON(w, http.StatusTooManyRequests, map[string]any{
				"error":               "Too many requests. Please wait before trying again.",
				"limit":               strconv.Itoa(l.Requests) + " per " + windowName(l.Window),
				"retry_after_seconds": retry,
				"request_id":          StateOf(r).ID,
			})
		}),
		// A limit that fails closed (get_token while Redis is down) answers
		// one 503 that says so; it is not a rate limiting.
		httprate.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			StateOf(r).limitFailed = true
			w.Header().Set("Retry-After", "5")
			s.Fail(w, r, &roomhub.Error{Code: roomhub.EUNAVAILABLE, Err: err,
				Message: "This is temporarily unavailable: the rate-limit store cannot be reached. Please try again in a few seconds."})
		}),
	}
	if s.counter != nil {
		opts = append(opts, httprate.WithLimitCounter(s.counter(name, l.Window)))
	}
	return httprate.NewRateLimiter(l.Requests, l.Window, opts...).Handler
}

func windowName(d time.Duration) string {
	switch d {
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	}
	return d.String()
}
