package live

import (
	"context"

	"roomhub"
	"roomhub/hub"
	"roomhub/video"
)

// What the live page shows of the rooms' Agora channels (package video):
// who of the members is in the video, who is in it without being a member,
// and the recent video removals. Without a video service none of it shows.

// MaxVideoActions is how many recent video removals the live page lists.
const MaxVideoActions = 10

// liveVideo is the video side of a room card.
type liveVideo struct {
	Known     bool
	Intruders []roomhub.VideoPresence
}

// readVideo adds the video state to a room card.
func (s *Handler) readVideo(ctx context.Context, key hub.Key, lr *liveRoom, members []hub.Member) error {
	if s.video == nil {
		return nil
	}
	v, err := s.video.RoomView(ctx, key, members)
	if err != nil {
		return err
	}
	lr.Video = liveVideo{Known: v.Known, Intruders: v.Intruders}
	for i := range lr.Members {
		switch {
		case !v.Known:
		case v.InVideo[lr.Members[i].UID]:
			lr.Members[i].Video = "in video"
		default:
			lr.Members[i].Video = "not in video"
		}
	}
	return nil
}

// liveAction is a video removal as the live page lists it.
type liveAction struct {
	roomhub.VideoAction
	Outcome string
}

// videoPanel is the live page's list of recent video removals.
type videoPanel struct {
	Actions []liveAction
	OOB     bool
}

func (s *Handler) readVideoPanel(ctx context.Context, org int64) (videoPanel, error) {
	var p videoPanel
	if s.video == nil {
		return p, nil
	}
	list, err := s.video.Actions(ctx, org, MaxVideoActions)
	if err != nil {
		return p, err
	}
	for _, a := range list {
		p.Actions = append(p.Actions, liveAction{VideoAction: a, Outcome: video.Describe(a)})
	}
	return p, nil
}
