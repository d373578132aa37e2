package video

import (
	"context"
	"time"

	"roomhub/config"
)

// ConfigFrom takes the service's settings from the server's.
func ConfigFrom(c config.Config) Config {
	return Config{CustomerID: c.AgoraCustomerID, CustomerSecret: c.AgoraCustomerSecret, NCSSecret: c.AgoraNCSSecret,
		APIURL: c.AgoraAPIURL, QueueSize: c.AgoraQueueSize, Rate: c.AgoraAPIRate, TokenTTL: c.AgoraTokenTTL,
		IntruderGrace: c.AgoraIntruderGrace}
}

// PruneInterval is how often a node forgets old notification ids and
// fails removals that stayed pending past PendingTimeout.
const PruneInterval = 10 * time.Minute

// PendingTimeout is far longer than a removal can wait and retry (a full
// queue at the slowest rate, then every attempt): one still pending this
// long was queued on a node that stopped.
const PendingTimeout = 30 * time.Minute

// Counters reads the service's counters, for metrics.
func (s *Service) Counters() (intruders, removed, failed, accepted, unsigned, malformed, unconfigured func() int64) {
	st := &s.Stats
	return st.Intruders.Load, st.Removed.Load, st.Failed.Load, st.NoticesOK.Load, st.Unsigned.Load, st.Malformed.Load, st.Unconfigure.Load
}

// prune forgets old notification ids now and every PruneInterval.
func (s *Service) prune(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	if err := s.Prune(ctx); err != nil {
		s.log.Error("notification ids not pruned", "err", err)
	}
	now := s.clk.Now()
	if n, err := s.store.ExpireVideoActions(ctx, now.Add(-PendingTimeout), "lost: the node handling it stopped before Agora answered", now); err != nil {
		s.log.Error("stale video removals not expired", "err", err)
	} else if n > 0 {
		s.log.Warn("video removals lost with a stopped node", "count", n)
	}
	s.clk.AfterFunc(PruneInterval, func() { s.prune(ctx) })
}
