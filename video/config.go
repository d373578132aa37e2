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

// PruneInterval is how often a node forgets old notification ids.
const PruneInterval = time.Hour

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
	s.clk.AfterFunc(PruneInterval, func() { s.prune(ctx) })
}
