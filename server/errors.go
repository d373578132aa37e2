package server

import (
	"encoding/json"
	"net/http"
	"strings"

	"roomhub"
	"roomhub/ui"
)

// status maps an error code to its HTTP status: the only place that does.
func status(code string) int {
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

// errorBody is the JSON error every API route answers with.
type errorBody struct {
	Error     string `json:"error"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// wantsHTML tells a page navigation from an API call.
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// fail answers err: a person-readable message and the request id for the
// client, everything else only in the log.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	st := reqState(r)
	code := roomhub.ErrorCode(err)
	httpStatus := status(code)
	switch {
	case httpStatus >= 500:
		s.log.Error("request failed", "request_id", st.id, "method", r.Method, "path", r.URL.Path, "status", httpStatus, "err", err)
	default:
		s.log.Info("request refused", "request_id", st.id, "method", r.Method, "path", r.URL.Path, "status", httpStatus, "err", err)
	}
	msg := roomhub.ErrorMessage(err)
	if wantsHTML(r) && r.Method == http.MethodGet {
		s.page(w, r, httpStatus, "error", ui.Page{Title: http.StatusText(httpStatus), Error: &ui.PageError{Status: httpStatus, Message: msg, RequestID: st.id}})
		return
	}
	writeJSON(w, httpStatus, errorBody{Error: msg, Field: roomhub.ErrorField(err), RequestID: st.id})
}
