package dashboard

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/go-chi/chi/v5"

	"roomhub"
	"roomhub/server/web"
	"roomhub/ui"
	"roomhub/webhook"
)

// Webhooks (docs/webhooks.md). Everyone in the organization reads the
// endpoints and the delivery log; owners and admins add, delete and test
// endpoints (web.Kit.RequireManage), each change audited. The signing secret is
// shown once, when the endpoint is added, and stored sealed.

// WebhookLogPageSize is how many deliveries one page of the log shows.
const WebhookLogPageSize = 50

// testEventMessage is the data of the test event.
const testEventMessage = "This is a test event from Roomhub. Your endpoint received and verified it."

type webhooksData struct {
	Endpoints  []roomhub.WebhookEndpoint
	Deliveries []webhookDeliveryRow
	EventTypes []string
	// NewSecret is the signing secret of the endpoint just added, shown once.
	NewSecret, NewSecretURL string
	Filter                  int64        // the log shows this endpoint only; 0 for all
	Older                   template.URL // query of the log's next page (url.Values), "" at the end
	Full                    bool         // no room for another endpoint
	Form                    webhookForm
	MaxEndpoints            int
	MaxURLLen               int
	MaxDescriptionLen       int
}

// webhookForm is the submitted add form, kept when it is refused.
type webhookForm struct {
	URL, Description string
	Events           map[string]bool
}

type webhookDeliveryRow struct {
	roomhub.WebhookDelivery
	URL string // of its endpoint
}

// PayloadText is the delivery's JSON, indented for the log.
func (d webhookDeliveryRow) PayloadText() string {
	var v any
	if json.Unmarshal(d.Payload, &v) != nil {
		return string(d.Payload)
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// webhookStore is the store's webhooks; every SQL store has them.
func (s *Handler) webhookStore() (roomhub.Webhooks, error) {
	if wh, ok := s.accounts.(roomhub.Webhooks); ok {
		return wh, nil
	}
	return nil, roomhub.Errorf(roomhub.ENOTFOUND, "Page not found.")
}

func (s *Handler) webhooksPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var d webhooksData
	if e := q.Get("endpoint"); e != "" {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil || n <= 0 {
			s.renderWebhooks(w, r, http.StatusBadRequest, "", "That endpoint filter is not a number.", webhooksData{})
			return nil
		}
		d.Filter = n
	}
	var before int64
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			s.renderWebhooks(w, r, http.StatusBadRequest, "", "Bad page.", webhooksData{})
			return nil
		}
		before = n
	}
	if d.Filter > 0 {
		wh, err := s.webhookStore()
		if err == nil {
			_, err = wh.WebhookEndpoint(r.Context(), web.StateOf(r).Dash.Org.ID, d.Filter)
		}
		if err != nil {
			s.NotFoundHere(w, r, "webhook.read", "webhook", q.Get("endpoint"), err)
			return nil
		}
	}
	s.renderWebhooksAt(w, r, http.StatusOK, "", "", d, before)
	return nil
}

func (s *Handler) renderWebhooks(w http.ResponseWriter, r *http.Request, code int, flash, formErr string, d webhooksData) {
	s.renderWebhooksAt(w, r, code, flash, formErr, d, 0)
}

// renderWebhooksAt renders the page with the log starting before the
// delivery id before (0: the newest).
func (s *Handler) renderWebhooksAt(w http.ResponseWriter, r *http.Request, code int, flash, formErr string, d webhooksData, before int64) {
	st := web.StateOf(r)
	wh, err := s.webhookStore()
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	org := st.Dash.Org.ID
	if d.Endpoints, err = wh.ListWebhookEndpoints(r.Context(), org); err != nil {
		s.Fail(w, r, err)
		return
	}
	urls := map[int64]string{}
	for i, e := range d.Endpoints {
		if !st.Dash.M.Role.CanManage() {
			// A query string may carry the receiver's own token; viewers
			// read the rest.
			d.Endpoints[i].URL = redactQuery(e.URL)
		}
		urls[e.ID] = d.Endpoints[i].URL
	}
	ds, err := wh.ListWebhookDeliveries(r.Context(), org, roomhub.WebhookDeliveryFilter{EndpointID: d.Filter, Before: before, Limit: WebhookLogPageSize})
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	for _, x := range ds {
		d.Deliveries = append(d.Deliveries, webhookDeliveryRow{WebhookDelivery: x, URL: urls[x.EndpointID]})
	}
	if len(ds) == WebhookLogPageSize {
		v := url.Values{"before": {strconv.FormatInt(ds[len(ds)-1].ID, 10)}}
		if d.Filter > 0 {
			v.Set("endpoint", strconv.FormatInt(d.Filter, 10))
		}
		d.Older = template.URL(v.Encode())
	}
	d.EventTypes = roomhub.WebhookEventTypes
	d.Full = len(d.Endpoints) >= roomhub.MaxWebhookEndpoints
	d.MaxEndpoints, d.MaxURLLen, d.MaxDescriptionLen = roomhub.MaxWebhookEndpoints, roomhub.MaxWebhookURLLen, roomhub.MaxWebhookDescriptionLen
	if d.Form.Events == nil {
		d.Form.Events = map[string]bool{}
		for _, t := range roomhub.WebhookEventTypes {
			d.Form.Events[t] = true
		}
	}
	if d.NewSecret != "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	s.DashPage(w, r, code, ui.PageWebhooks, "webhooks", ui.Page{Flash: flash, FormError: formErr, Data: d})
}

// redactQuery hides a URL's query string.
func redactQuery(raw string) string {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		return raw[:i] + "?…"
	}
	return raw
}

// createWebhook adds an endpoint. The URL must pass the SSRF policy (see
// webhook.Policy.CheckURL); the signing secret is made here, sealed to the
// new row and shown once.
func (s *Handler) createWebhook(w http.ResponseWriter, r *http.Request) error {
	st := web.StateOf(r)
	r.ParseForm()
	form := webhookForm{URL: strings.TrimSpace(r.PostFormValue("url")), Description: strings.TrimSpace(r.PostFormValue("description")), Events: map[string]bool{}}
	var events []string
	for _, t := range r.PostForm["events"] {
		if !roomhub.ValidWebhookEvent(t) {
			s.renderWebhooks(w, r, http.StatusBadRequest, "", "Choose events from the list.", webhooksData{Form: form})
			return nil
		}
		if !form.Events[t] {
			form.Events[t] = true
			events = append(events, t)
		}
	}
	refuse := func(code int, msg string) {
		s.renderWebhooks(w, r, code, "", msg, webhooksData{Form: form})
	}
	switch {
	case len(events) == 0:
		refuse(http.StatusBadRequest, "Choose at least one event to send.")
		return nil
	case len([]rune(form.Description)) > roomhub.MaxWebhookDescriptionLen:
		refuse(http.StatusBadRequest, "The description is at most "+strconv.Itoa(roomhub.MaxWebhookDescriptionLen)+" characters.")
		return nil
	case strings.ContainsFunc(form.Description, unicode.IsControl):
		refuse(http.StatusBadRequest, "The description must be one line of text.")
		return nil
	}
	u, err := webhook.Policy{Allow: s.cfg.WebhookAllowNets}.CheckURL(r.Context(), form.URL)
	if err != nil {
		s.AuditHere(r, "webhook.create.denied", "webhook", "", "endpoint URL refused", false, map[string]any{"url": web.Truncate(form.URL, 300), "why": roomhub.ErrorMessage(err)})
		s.FormError(w, r, err, refuse)
		return nil
	}
	wh, err := s.webhookStore()
	if err != nil {
		return err
	}
	clear := webhook.NewSecret()
	e, err := wh.CreateWebhookEndpoint(r.Context(), roomhub.WebhookEndpoint{OrgID: st.Dash.Org.ID, URL: u.String(), Description: form.Description,
		Events: events, CreatedBy: st.User.User.Email, CreatedAt: s.clock.Now()},
		func(id int64) (string, error) { return s.box.Seal(clear, webhook.SecretAAD(id)) })
	if err != nil {
		s.FormError(w, r, err, refuse)
		return nil
	}
	s.AuditHere(r, "webhook.create", "webhook", strconv.FormatInt(e.ID, 10), "webhook endpoint "+e.URL+" added", true,
		map[string]any{"url": e.URL, "events": strings.Join(e.Events, ",")})
	s.renderWebhooks(w, r, http.StatusOK, "", "", webhooksData{NewSecret: clear, NewSecretURL: e.URL})
	return nil
}

// webhookTarget loads the endpoint a route names, in this organization
// only: another organization's id is a 404, audited.
func (s *Handler) webhookTarget(w http.ResponseWriter, r *http.Request, action string) (roomhub.Webhooks, roomhub.WebhookEndpoint, bool) {
	wh, err := s.webhookStore()
	var e roomhub.WebhookEndpoint
	if err == nil {
		var id int64
		if id, err = web.IDParam(r, "id"); err == nil {
			e, err = wh.WebhookEndpoint(r.Context(), web.StateOf(r).Dash.Org.ID, id)
		}
	}
	if err != nil {
		s.NotFoundHere(w, r, action, "webhook", chi.URLParam(r, "id"), err)
		return nil, e, false
	}
	return wh, e, true
}

func (s *Handler) deleteWebhook(w http.ResponseWriter, r *http.Request) error {
	wh, e, ok := s.webhookTarget(w, r, "webhook.delete")
	if !ok {
		return nil
	}
	if err := wh.DeleteWebhookEndpoint(r.Context(), e.OrgID, e.ID); err != nil {
		s.NotFoundHere(w, r, "webhook.delete", "webhook", strconv.FormatInt(e.ID, 10), err)
		return nil
	}
	s.AuditHere(r, "webhook.delete", "webhook", strconv.FormatInt(e.ID, 10), "webhook endpoint "+e.URL+" deleted", true, map[string]any{"url": e.URL})
	s.renderWebhooks(w, r, http.StatusOK, "Endpoint deleted; its queued deliveries are dropped.", "", webhooksData{})
	return nil
}

// testWebhook queues a test event for one endpoint; the delivery worker
// sends it like any other, and it shows in the log.
func (s *Handler) testWebhook(w http.ResponseWriter, r *http.Request) error {
	st := web.StateOf(r)
	wh, e, ok := s.webhookTarget(w, r, "webhook.test")
	if !ok {
		return nil
	}
	now := s.clock.Now()
	ev := roomhub.WebhookEvent{ID: roomhub.NewWebhookEventID(), Type: roomhub.EventTest, CreatedAt: now.UnixMilli(), Org: st.Dash.Org.Slug,
		Data: map[string]string{"message": testEventMessage}}
	payload, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if _, err := wh.EnqueueWebhookTo(r.Context(), e.OrgID, e.ID, ev.ID, ev.Type, payload, now); err != nil {
		s.NotFoundHere(w, r, "webhook.test", "webhook", strconv.FormatInt(e.ID, 10), err)
		return nil
	}
	s.AuditHere(r, "webhook.test", "webhook", strconv.FormatInt(e.ID, 10), "test event sent to "+e.URL, true, map[string]any{"event_id": ev.ID})
	s.renderWebhooks(w, r, http.StatusOK, "Test event "+ev.ID+" queued for "+e.URL+"; it shows in the delivery log below within seconds.", "", webhooksData{})
	return nil
}
