package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"roomhub/ui"
)

// Defaults of the body limits (MAX_BODY_BYTES, BODY_READ_TIMEOUT).
const (
	DefaultMaxBodyBytes    = MaxBodyBytes
	DefaultBodyReadTimeout = 10 * time.Second
)

// LimitBody reads every request body whole, before any other check, within
// MAX_BODY_BYTES and BODY_READ_TIMEOUT: whatever the headers (a CSRF token,
// a multipart form, chunked encoding), no handler ever reads more, and a
// client sending one byte every few seconds is cut off instead of holding a
// goroutine and a descriptor for ever. A body over the cap is 413, one too
// slow 408; both are security events.
func (s *Kit) LimitBody(next http.Handler) http.Handler {
	limit := int64(s.cfg.MaxBodyBytes)
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	timeout := s.cfg.BodyReadTimeout
	if timeout <= 0 {
		timeout = DefaultBodyReadTimeout
	}
	ncsLimit := max(limit, int64(s.cfg.AgoraNCSMaxBytes))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		max := limit
		if r.Body == nil || r.Body == http.NoBody || (r.ContentLength == 0 && len(r.TransferEncoding) == 0) {
			next.ServeHTTP(w, r)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/agora/ncs") {
			// Agora's notifications have their own cap (AGORA_NCS_MAX_BYTES)
			// and refusal log, applied by their handler; only the read
			// deadline and the larger of the two caps are set here.
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(timeout)) == nil {
				defer rc.SetReadDeadline(time.Time{})
			}
			r.Body = http.MaxBytesReader(w, r.Body, ncsLimit)
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > max {
			s.bodyRefused(w, r, http.StatusRequestEntityTooLarge, "body_too_large",
				fmt.Sprintf("The request body is too large (at most %d bytes).", max))
			return
		}
		rc := http.NewResponseController(w)
		// A deadline on the connection: the server's own ReadHeaderTimeout
		// resets it for the next request.
		deadlineSet := rc.SetReadDeadline(time.Now().Add(timeout)) == nil
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
		if deadlineSet {
			rc.SetReadDeadline(time.Time{})
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			switch {
			case errors.As(err, &tooBig):
				s.bodyRefused(w, r, http.StatusRequestEntityTooLarge, "body_too_large",
					fmt.Sprintf("The request body is too large (at most %d bytes).", max))
			case errors.Is(err, os.ErrDeadlineExceeded):
				s.bodyRefused(w, r, http.StatusRequestTimeout, "body_timeout",
					fmt.Sprintf("The request body did not arrive within %s.", timeout))
			default:
				s.bodyRefused(w, r, http.StatusBadRequest, "body_unreadable", "The request body could not be read.")
			}
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// bodyRefused answers a refused body as HTML to a browser, JSON otherwise,
// and closes the connection (the rest of the body is not read).
func (s *Kit) bodyRefused(w http.ResponseWriter, r *http.Request, code int, event, msg string) {
	st := StateOf(r)
	s.Security(r, event, "content_length", r.ContentLength)
	w.Header().Set("Connection", "close")
	if WantsHTML(r) {
		// Not s.Page: a refused request makes no participant session.
		w.Header().Set("Cache-Control", "no-store")
		if err := s.ui.Render(w, code, "error", ui.Page{Nonce: st.Nonce, Base: st.Base, Title: http.StatusText(code),
			Error: &ui.PageError{Status: code, Message: msg, RequestID: st.ID}}); err != nil {
			s.log.Error("render failed", "request_id", st.ID, "err", err)
		}
		return
	}
	WriteJSON(w, code, ErrorBody{Error: msg, RequestID: st.ID})
}
