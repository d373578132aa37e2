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
	if WantsHTML(r) && r.Method == http.MethodGet {
		s.Page(w, r, httpStatus, "error", ui.Page{Title: http.StatusText(httpStatus), Error: &ui.PageError{Status: httpStatus, Message: msg, RequestID: st.ID}})
		return
	}
	WriteJSON(w, httpStatus, ErrorBody{Error: msg, Field: roomhub.ErrorField(err), RequestID: st.ID})
}
