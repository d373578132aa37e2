// Package live serves the dashboard's live rooms (a server-sent event
// stream), room history, a room's page and moderation: kick, close, lock,
// member limit and invite links, each applying the room package's rules.
package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"roomhub"
	"roomhub/clock"
	"roomhub/config"
	"roomhub/hub"
	"roomhub/room"
	"roomhub/server/web"
	"roomhub/ui"
	"roomhub/video"
)

// Handler serves live rooms, history and moderation.
type Handler struct {
	*web.Kit
	cfg     config.Config
	history roomhub.History
	rooms   roomhub.Rooms
	node    *hub.Node
	rules   *room.Service
	video   *video.Service
	ui      *ui.UI
	clock   clock.Clock
	log     *slog.Logger
	// stillSignedIn reports whether a stream's sign-in still holds.
	stillSignedIn func(ctx context.Context, r *http.Request) bool
	// liveStreams counts the open live dashboard streams (MaxLiveStreams).
	liveStreams atomic.Int64
	// streams counts the open live streams per user and per organization.
	streams streamCounts
}

// Deps are what the live pages read and act on.
type Deps struct {
	History roomhub.History
	Rooms   roomhub.Rooms
	Node    *hub.Node
	Rules   *room.Service
	// Video is nil when the server does not moderate Agora channels: the
	// room cards then show no video state.
	Video *video.Service
	UI    *ui.UI
	// StillSignedIn reports whether a stream's dashboard sign-in is still
	// valid and its user still a member (auth.Handler.StillSignedIn).
	StillSignedIn func(ctx context.Context, r *http.Request) bool
}

// New returns the live pages' handler.
func New(kit *web.Kit, d Deps) *Handler {
	return &Handler{Kit: kit, cfg: kit.Config(), history: d.History, rooms: d.Rooms, node: d.Node, rules: d.Rules, video: d.Video,
		ui: d.UI, clock: kit.Clock(), log: kit.Log(), stillSignedIn: d.StillSignedIn}
}

// Mount mounts live rooms, history, a room's page and moderation under
// /dashboard/{org}/; the caller has resolved the organization and the
// user's role (web.DashOrg).
func (s *Handler) Mount(r chi.Router) {
	r.Get("/live", s.Handle(s.livePage))
	r.Get("/live/events", s.liveEvents)
	r.Get("/history", s.Handle(s.historyPage))
	r.Get("/rooms/{room}", s.Handle(s.roomPage))
	r.Group(func(r chi.Router) {
		r.Use(s.RequireManage)
		r.Post("/rooms/{room}/members/{uid}/kick", s.Handle(s.kickMember))
		r.Post("/rooms/{room}/close", s.Handle(s.closeRoomPage))
		r.Post("/rooms/{room}/settings", s.Handle(s.saveRoomSettings))
		r.Post("/rooms/{room}/invites", s.Handle(s.createRoomInvite))
		r.Post("/rooms/{room}/invites/{id}/revoke", s.Handle(s.revokeRoomInvite))
	})
}

// The live rooms page. The browser opens one server-sent event stream
// (htmx-ext-sse; see liveEvents for why not a WebSocket); the server sends
// the whole room list when the stream opens, then, for every room the
// organization's feed reports changed, that room's card as an out-of-band
// swap. The feed comes from the bus, so the page is right whichever node
// the members and the dashboard are on, and a reconnect starts again from
// a full snapshot.

// Live stream limits.
const (
	// DefaultMaxLiveStreams bounds the dashboard streams open on one node
	// when MAX_LIVE_STREAMS is unset.
	DefaultMaxLiveStreams = 1000
	// LiveFlushInterval batches a burst of changes into one update: a room
	// is re-read at most once per interval per stream.
	LiveFlushInterval = 100 * time.Millisecond
	// LiveFeedBuffer is how many changes wait for the stream; past it the
	// stream re-sends the whole list instead.
	LiveFeedBuffer = 256
	// LiveHeartbeat keeps idle streams open through proxies.
	LiveHeartbeat = 15 * time.Second
	// LiveSessionCheck is how often a stream checks that its dashboard
	// session is still valid; a signed-out user stops receiving updates.
	LiveSessionCheck = 30 * time.Second
	// LiveWriteTimeout drops a stream whose reader stopped reading.
	LiveWriteTimeout = 10 * time.Second
	// MaxLiveRooms bounds the rooms one snapshot lists.
	MaxLiveRooms = 500
)

var errTooManyStreams = errors.New("too many live streams on this node")

// liveMember is one row of a room card.
type liveMember struct {
	UID      uint32
	Name     string
	JoinedAt time.Time
	InRoom   string // "12 min"
	Video    string // "in video", "not in video", or "" when unknown
}

// liveRoom is one room card.
type liveRoom struct {
	Org       string // slug, for URLs
	Name      string
	Members   []liveMember
	PeakToday int
	Locked    bool
	Limit     int
	CanManage bool
	CSRFToken string
	OOB       bool // rendered as an out-of-band swap of itself
	Video     liveVideo
}

// liveData is the live page: every room in use.
type liveData struct {
	Rooms   []liveRoom
	People  int
	Stream  string // the event stream's URL
	Updated time.Time
	Video   videoPanel
}

// inRoom is how long since joined, for people: "just now", "4 min", "2 h 5 min".
func inRoom(now, joined time.Time) string {
	d := now.Sub(joined)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	default:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		return strconv.Itoa(h) + " h " + strconv.Itoa(m) + " min"
	}
}

// readRoom reads one room's card from presence and the store: what every
// node agrees on, never this node's sockets.
func (s *Handler) readRoom(ctx context.Context, r *http.Request, csrf string, org roomhub.Org, room string, peaks map[string]int) (liveRoom, error) {
	snap, err := s.node.Snapshot(ctx, hub.Key{Org: org.ID, Room: room})
	if err != nil {
		return liveRoom{}, err
	}
	rs, err := s.rules.Settings(ctx, hub.Key{Org: org.ID, Room: room})
	if err != nil {
		return liveRoom{}, err
	}
	st := web.StateOf(r)
	now := s.clock.Now()
	lr := liveRoom{Org: org.Slug, Name: room, PeakToday: max(peaks[room], len(snap.Members)), Locked: rs.Locked, Limit: rs.MaxMembers,
		CanManage: st.Dash.M.Role.CanManage(), CSRFToken: csrf}
	for _, m := range snap.Members {
		j := time.UnixMilli(m.JoinedAt)
		lr.Members = append(lr.Members, liveMember{UID: m.UID, Name: m.Name, JoinedAt: j, InRoom: inRoom(now, j)})
	}
	if err := s.readVideo(ctx, hub.Key{Org: org.ID, Room: room}, &lr, snap.Members); err != nil {
		return liveRoom{}, err
	}
	return lr, nil
}

// readLive reads every room of the organization that has members.
func (s *Handler) readLive(ctx context.Context, r *http.Request, csrf string, org roomhub.Org) (liveData, error) {
	rooms, err := s.rooms.ListRooms(ctx, org.ID)
	if err != nil {
		return liveData{}, err
	}
	if len(rooms) > MaxLiveRooms {
		rooms = rooms[:MaxLiveRooms]
	}
	peaks, err := s.history.PeaksOn(ctx, org.ID, s.clock.Now())
	if err != nil {
		return liveData{}, err
	}
	d := liveData{Stream: "/dashboard/" + org.Slug + "/live/events", Updated: s.clock.Now()}
	if d.Video, err = s.readVideoPanel(ctx, org.ID); err != nil {
		return liveData{}, err
	}
	for _, rm := range rooms {
		lr, err := s.readRoom(ctx, r, csrf, org, rm.Name, peaks)
		if err != nil {
			return liveData{}, err
		}
		if len(lr.Members) == 0 && len(lr.Video.Intruders) == 0 {
			continue // the store still lists a member presence just removed
		}
		d.People += len(lr.Members)
		d.Rooms = append(d.Rooms, lr)
	}
	sort.Slice(d.Rooms, func(i, j int) bool { return d.Rooms[i].Name < d.Rooms[j].Name })
	return d, nil
}

// LiveStreams reports the open live dashboard streams, for metrics.
func (s *Handler) LiveStreams() int64 { return s.liveStreams.Load() }

func (s *Handler) livePage(w http.ResponseWriter, r *http.Request) error {
	d, err := s.readLive(r.Context(), r, s.PageCSRF(w, r), web.StateOf(r).Dash.Org)
	if err != nil {
		return err
	}
	s.DashPage(w, r, http.StatusOK, ui.PageLive, "live", ui.Page{Data: d})
	return nil
}

// liveEvents streams the live page's updates as server-sent events.
//
// Server-sent events rather than a WebSocket (htmx-ext-ws): the page only
// listens, so a one-way stream is enough; EventSource reconnects by itself
// (and the server answers every new stream with a full snapshot); it is
// plain HTTP, so the dashboard's session cookie, CSRF-free GET semantics,
// proxies and HTTP/2 need nothing special; and moderation actions stay
// ordinary CSRF-checked POSTs.
//
// Events: "rooms" carries the whole list (swapped into #live-rooms); "room"
// carries out-of-band swaps: a room's card replaced, added or deleted, and
// the summary line.
func (s *Handler) liveEvents(w http.ResponseWriter, r *http.Request) {
	limit := int64(s.cfg.MaxLiveStreams)
	if limit <= 0 {
		limit = DefaultMaxLiveStreams
	}
	if s.liveStreams.Add(1) > limit {
		s.liveStreams.Add(-1)
		s.Fail(w, r, roomhub.Unavailable("live updates", errTooManyStreams))
		return
	}
	defer s.liveStreams.Add(-1)
	release := s.acquireLiveStream(w, r)
	if release == nil {
		return
	}
	defer release()
	ctx := r.Context()
	st := web.StateOf(r)
	org := st.Dash.Org

	csrf := s.PageCSRF(w, r)
	changed := make(chan string, LiveFeedBuffer)
	// overflow asks for the whole list again: the buffer was full, or the
	// feed's sequence jumped (events lost while the bus reconnected, or the
	// bus restarted), so single-room updates cannot be trusted to be complete.
	var overflow atomic.Bool
	var lastSeq atomic.Uint64
	cancel, err := s.node.SubscribeFeed(ctx, org.ID, func(ev hub.Event) {
		if last := lastSeq.Swap(ev.Seq); last != 0 && ev.Seq != last+1 {
			overflow.Store(true)
		}
		var f struct {
			Target string `json:"target"`
		}
		if json.Unmarshal(ev.Frame, &f) != nil || f.Target == "" {
			return
		}
		select {
		case changed <- f.Target:
		default:
			overflow.Store(true)
		}
	})
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	defer cancel()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	send := func(event string, html []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(LiveWriteTimeout))
		var b bytes.Buffer
		b.WriteString("event: ")
		b.WriteString(event)
		b.WriteByte('\n')
		for _, line := range bytes.Split(html, []byte("\n")) {
			b.WriteString("data: ")
			b.Write(bytes.TrimRight(line, "\r"))
			b.WriteByte('\n')
		}
		b.WriteByte('\n')
		if _, err := w.Write(b.Bytes()); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	shown := map[string]bool{}
	snapshot := func() bool {
		d, err := s.readLive(ctx, r, csrf, org)
		if err != nil {
			s.log.Error("live snapshot failed", "org", org.ID, "err", err)
			return ctx.Err() == nil
		}
		var b bytes.Buffer
		if err := s.ui.Partial(&b, ui.PageLive, "live_rooms", d); err != nil {
			s.log.Error("live render failed", "err", err)
			return false
		}
		clear(shown)
		for _, rm := range d.Rooms {
			shown[rm.Name] = true
		}
		return send("rooms", b.Bytes())
	}
	update := func(dirty map[string]bool) bool {
		peaks, err := s.history.PeaksOn(ctx, org.ID, s.clock.Now())
		if err != nil {
			return ctx.Err() == nil
		}
		var b bytes.Buffer
		names := make([]string, 0, len(dirty))
		for name := range dirty {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if name == video.FeedTarget {
				p, err := s.readVideoPanel(ctx, org.ID)
				if err != nil {
					return ctx.Err() == nil
				}
				p.OOB = true
				if err := s.ui.Partial(&b, ui.PageLive, "video_panel", p); err != nil {
					s.log.Error("live render failed", "err", err)
					return false
				}
				continue
			}
			lr, err := s.readRoom(ctx, r, csrf, org, name, peaks)
			if err != nil {
				s.log.Error("live room read failed", "org", org.ID, "room", name, "err", err)
				continue
			}
			swap := "replace"
			empty := len(lr.Members) == 0 && len(lr.Video.Intruders) == 0
			switch {
			case empty && !shown[name]:
				continue
			case empty:
				swap = "delete"
				delete(shown, name)
			case !shown[name]:
				if len(shown) >= MaxLiveRooms {
					continue
				}
				swap = "add"
				shown[name] = true
			}
			lr.OOB = swap == "replace"
			if err := s.ui.Partial(&b, ui.PageLive, "room_oob", roomOOB{Swap: swap, Room: lr}); err != nil {
				s.log.Error("live render failed", "err", err)
				return false
			}
		}
		if b.Len() == 0 {
			return true
		}
		return send("room", b.Bytes())
	}

	// Armed before the snapshot, so the first check is due LiveSessionCheck
	// after the stream opened.
	heartbeat := time.NewTicker(LiveHeartbeat)
	defer heartbeat.Stop()
	// The session check runs on the server's clock, so tests can move it.
	check := make(chan struct{}, 1)
	tick := func() {
		select {
		case check <- struct{}{}:
		default:
		}
	}
	timer := s.clock.AfterFunc(LiveSessionCheck, tick)
	defer func() { timer.Stop() }()
	if !snapshot() {
		return
	}

	dirty := map[string]bool{}
	var flush <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case name := <-changed:
			dirty[name] = true
			if flush == nil {
				flush = time.After(LiveFlushInterval)
			}
		case <-flush:
			flush = nil
			ok := true
			if overflow.Swap(false) {
				ok = snapshot()
			} else {
				ok = update(dirty)
			}
			clear(dirty)
			if !ok {
				return
			}
		case <-heartbeat.C:
			rc.SetWriteDeadline(time.Now().Add(LiveWriteTimeout))
			if _, err := w.Write([]byte(": ping\n\n")); err != nil || rc.Flush() != nil {
				return
			}
		case <-check:
			if !s.stillSignedIn(ctx, r) {
				send("signed-out", nil)
				return
			}
			timer = s.clock.AfterFunc(LiveSessionCheck, tick)
		}
	}
}

// roomOOB is a room card sent as an out-of-band swap: Swap is "replace",
// "add" (appended to the list) or "delete".
type roomOOB struct {
	Swap string
	Room liveRoom
}

// Room history.

type historyData struct {
	Room, Since string
	Sessions    []roomhub.RoomSession
	Older       string // query of the next page, "" at the end
	Rooms       []string
}

// HistoryPage is one page of room history.
const HistoryPage = 50

func (s *Handler) historyPage(w http.ResponseWriter, r *http.Request) error {
	org := web.StateOf(r).Dash.Org
	q := r.URL.Query()
	d := historyData{Room: strings.TrimSpace(q.Get("room")), Since: q.Get("since")}
	f := roomhub.SessionFilter{Room: d.Room, Limit: HistoryPage}
	render := func(code int, msg string) {
		s.DashPage(w, r, code, ui.PageHistory, "history", ui.Page{FormError: msg, Data: d})
	}
	if d.Room != "" {
		if err := roomhub.ValidateRoom(d.Room); err != nil {
			render(http.StatusBadRequest, roomhub.ErrorMessage(err))
			return nil
		}
	}
	if d.Since != "" {
		t, err := time.Parse(time.DateOnly, d.Since)
		if err != nil {
			render(http.StatusBadRequest, "Give the date as YYYY-MM-DD.")
			return nil
		}
		f.Since = t
	}
	if b := q.Get("before"); b != "" {
		id, err := strconv.ParseInt(b, 10, 64)
		if err != nil || id <= 0 {
			render(http.StatusBadRequest, "That page does not exist.")
			return nil
		}
		f.Before = id
	}
	list, err := s.history.ListSessions(r.Context(), org.ID, f)
	if err != nil {
		return err
	}
	d.Sessions = list
	if len(list) == HistoryPage {
		v := q
		v.Set("before", strconv.FormatInt(list[len(list)-1].ID, 10))
		d.Older = v.Encode()
	}
	render(http.StatusOK, "")
	return nil
}

// Room page: settings, invites, recent sessions.

type roomPageData struct {
	Room     liveRoom
	Settings roomhub.RoomSettings
	Invites  []roomhub.RoomInvite
	Sessions []roomhub.RoomSession
	NewLink  string
	MaxLimit int
	Now      time.Time

	MaxInviteHours, MaxInviteUses int
}

// dashRoom resolves {room} in the dashboard's organization: a room the
// organization never had is a 404, audited as action.denied, whether or
// not another organization has one so named.
func (s *Handler) dashRoom(r *http.Request, action string) (hub.Key, error) {
	org := web.StateOf(r).Dash.Org
	room := chi.URLParam(r, "room")
	exists := false
	if roomhub.ValidateRoom(room) == nil {
		ok, err := s.rooms.RoomExists(r.Context(), org.ID, room)
		if err != nil {
			return hub.Key{}, err
		}
		exists = ok
	}
	if !exists {
		if action != "" {
			s.AuditHere(r, action+".denied", "room", web.Truncate(room, 64), "no such room in this organization", false, nil)
		}
		return hub.Key{}, roomhub.Errorf(roomhub.ENOTFOUND, "No such room.")
	}
	return hub.Key{Org: org.ID, Room: room}, nil
}

func (s *Handler) roomPage(w http.ResponseWriter, r *http.Request) error {
	key, err := s.dashRoom(r, "room.view")
	if err != nil {
		return err
	}
	s.renderRoom(w, r, key, http.StatusOK, "", "", "")
	return nil
}

func (s *Handler) renderRoom(w http.ResponseWriter, r *http.Request, key hub.Key, code int, flash, formErr, newLink string) {
	ctx := r.Context()
	org := web.StateOf(r).Dash.Org
	peaks, err := s.history.PeaksOn(ctx, org.ID, s.clock.Now())
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	lr, err := s.readRoom(ctx, r, s.PageCSRF(w, r), org, key.Room, peaks)
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	d := roomPageData{Room: lr, Settings: roomhub.RoomSettings{Locked: lr.Locked, MaxMembers: lr.Limit}, NewLink: newLink,
		MaxLimit: roomhub.MaxRoomMembersSetting, Now: s.clock.Now(),
		MaxInviteHours: room.MaxInviteHours, MaxInviteUses: room.MaxInviteUses}
	if d.Invites, err = s.rules.Invites(ctx, key); err != nil {
		s.Fail(w, r, err)
		return
	}
	if d.Sessions, err = s.history.ListSessions(ctx, org.ID, roomhub.SessionFilter{Room: key.Room, Limit: 10}); err != nil {
		s.Fail(w, r, err)
		return
	}
	if newLink != "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	s.DashPage(w, r, code, ui.PageRoomAdmin, "live", ui.Page{Title: "Room " + key.Room, Flash: flash, FormError: formErr, Data: d})
}

// Moderation. Every action is owner or admin only (web.Kit.RequireManage), audited,
// and answered for htmx with 204 (the live stream shows the result) or a
// re-rendered room page; without JavaScript, with a redirect.

// moderated answers a finished moderation action.
func (s *Handler) moderated(w http.ResponseWriter, r *http.Request, back string) {
	if web.IsHTMX(r) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

func (s *Handler) kickMember(w http.ResponseWriter, r *http.Request) error {
	key, err := s.dashRoom(r, "member.kick")
	if err != nil {
		return err
	}
	uid, err := roomhub.ParseUID(chi.URLParam(r, "uid"))
	if err != nil {
		return err
	}
	objID := key.Room + "/" + strconv.FormatUint(uint64(uid), 10)
	name, left, err := s.rules.Kick(r.Context(), key, uid)
	if err != nil {
		return err
	}
	if !left {
		s.AuditHere(r, "member.kick.denied", "member", objID, "no such member in this room", false, nil)
		return roomhub.Errorf(roomhub.ENOTFOUND, "No such member in this room: they may have left already.")
	}
	s.AuditHere(r, "member.kick", "member", objID, "member "+name+" kicked from the dashboard", true, map[string]any{"name": name})
	s.moderated(w, r, "/dashboard/"+web.StateOf(r).Dash.Org.Slug+"/live")
	return nil
}

func (s *Handler) closeRoomPage(w http.ResponseWriter, r *http.Request) error {
	key, err := s.dashRoom(r, "room.close")
	if err != nil {
		return err
	}
	n, err := s.rules.Close(r.Context(), key)
	if err != nil {
		return err
	}
	s.AuditHere(r, "room.close", "room", key.Room, "room closed from the dashboard; "+strconv.Itoa(n)+" members removed", true, map[string]any{"removed": n})
	s.moderated(w, r, "/dashboard/"+web.StateOf(r).Dash.Org.Slug+"/live")
	return nil
}

// saveRoomSettings locks or unlocks a room and sets its member limit.
func (s *Handler) saveRoomSettings(w http.ResponseWriter, r *http.Request) error {
	key, err := s.dashRoom(r, "room.settings")
	if err != nil {
		return err
	}
	var c room.Change
	if v := r.PostFormValue("locked"); v != "" {
		locked := v == "true" || v == "on"
		c.Locked = &locked
	}
	if v := strings.TrimSpace(r.PostFormValue("max_members")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			n = -1 // out of range: the rule refuses it with its message
		}
		c.MaxMembers = &n
	}
	old, rs, err := s.rules.Configure(r.Context(), key, c)
	if err == room.ErrLimit {
		s.renderRoom(w, r, key, http.StatusBadRequest, "", roomhub.ErrorMessage(err), "")
		return nil
	}
	if err != nil {
		s.FormError(w, r, err, func(code int, msg string) { s.renderRoom(w, r, key, code, "", msg, "") })
		return nil
	}
	action := "room.settings"
	switch {
	case rs.Locked && !old.Locked:
		action = "room.lock"
	case !rs.Locked && old.Locked:
		action = "room.unlock"
	}
	s.AuditHere(r, action, "room", key.Room, "room settings changed", true,
		map[string]any{"locked": rs.Locked, "max_members": rs.MaxMembers, "was_locked": old.Locked, "was_max_members": old.MaxMembers})
	s.rules.Announce(r.Context(), key)
	if web.IsHTMX(r) && r.PostFormValue("from") == "live" {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	s.renderRoom(w, r, key, http.StatusOK, "Room settings saved.", "", "")
	return nil
}
