package web

import (
	"encoding/json"
	"net/http"
	"strings"

	"roomhub"
	"roomhub/ui"
)

// Status maps an error code to its HTTP status: the only place that does.
func Status(code string) int {
	switch code {
	case roomhub.EINVALID:
		return http.StatusBadRequest
	case roomhub.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case roomhub.EFORBIDDEN:
		return http.StatusForbidden
	case roomhub.ENOTFOUND:
		return http.StatusNotFound
	case roomhub.ECONFLICT:
		return http.StatusConflict
	case roomhub.ERATELIMIT:
		return http.StatusTooManyRequests
	case roomhub.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// ErrorBody is the JSON error every API route answers with.
type ErrorBody struct {
	Error     string `json:"error"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id"`
}

// WriteJSON answers v as JSON, never cached.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// WantsHTML tells a page navigation from an API call.
func WantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// Fail answers err: a person-readable message and the request id for the
// client, everything else only in the log.
func (s *Kit) Fail(w http.ResponseWriter, r *http.Request, err error) {
	st := StateOf(r)
	code := roomhub.ErrorCode(err)
	httpStatus := Status(code)
	switch {
	case httpStatus >= 500:
		s.log.Error("request failed", "request_id", st.ID, "method", r.Method, "path", r.URL.Path, "status", httpStatus, "err", err)
	default:
		s.log.Info("request refused", "request_id", st.ID, "method", r.Method, "path", r.URL.Path, "status", httpStatus, "err", err)
	}
	msg := roomhub.ErrorMessage(err)
	if !st.JSON && WantsHTML(r) && r.Method == http.MethodGet {
		s.Page(w, r, httpStatus, "error", ui.Page{Title: http.StatusText(httpStatus), Error: &ui.PageError{Status: httpStatus, Message: msg, RequestID: st.ID}})
		return
	}
	WriteJSON(w, httpStatus, ErrorBody{Error: msg, Field: roomhub.ErrorField(err), RequestID: st.ID})
}

// Handle adapts a handler that returns its failure: Fail answers the error
// (JSON, or an error page for a browser's GET), so a handler ends with
// "return err" and never writes a failure itself.
func (s *Kit) Handle(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.Fail(w, r, err)
		}
	}
}

// AnswerJSON marks the routes behind it as an API: their failures are JSON
// whatever the Accept header says.
func AnswerJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		StateOf(r).JSON = true
		next.ServeHTTP(w, r)
	})
}
