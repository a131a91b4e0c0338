package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/store"
)

// statusByCode maps application error codes to HTTP statuses. It is the
// only place that decides an error's status.
var statusByCode = map[string]int{
	apperr.EINVALID:        http.StatusUnprocessableEntity,
	apperr.EMALFORMED:      http.StatusBadRequest,
	apperr.EUNAUTHORIZED:   http.StatusUnauthorized,
	apperr.EFORBIDDEN:      http.StatusForbidden,
	apperr.ENOTFOUND:       http.StatusNotFound,
	apperr.ECONFLICT:       http.StatusConflict,
	apperr.ESOLDOUT:        http.StatusConflict,
	apperr.ETOOLARGE:       http.StatusRequestEntityTooLarge,
	apperr.ERATELIMITED:    http.StatusTooManyRequests,
	apperr.ETOOMANYPENDING: http.StatusTooManyRequests,
	apperr.EINTERNAL:       http.StatusInternalServerError,
	apperr.EUNAVAILABLE:    http.StatusServiceUnavailable,
}

// DiskFullMessage is the message of the 503 that answers a request whose
// write found the database's disk full.
const DiskFullMessage = "database disk is full"

// StatusOf returns the HTTP status for err.
func StatusOf(err error) int {
	if st, ok := statusByCode[apperr.Code(err)]; ok {
		return st
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields"`
}

// WriteError answers with err in the API's error shape. Internal errors are
// logged here, once, with the request ID, and the client sees only a
// generic message.
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	if apperr.Code(err) == apperr.EINTERNAL && store.IsDiskFull(err) {
		// Nothing was written; the client may retry once space is freed.
		err = &apperr.Error{Code: apperr.EUNAVAILABLE, Message: DiskFullMessage, Err: err}
		w.Header().Set("Retry-After", "30")
	}
	code := apperr.Code(err)
	status := StatusOf(err)
	if status >= 500 {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("request_id", RequestID(r.Context())),
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("error", err.Error()))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tripin"`)
	}
	var wait interface{ RetryAfterSeconds() int }
	if status == http.StatusTooManyRequests && errors.As(err, &wait) {
		w.Header().Set("Retry-After", strconv.Itoa(wait.RetryAfterSeconds()))
	}
	var fields map[string]string
	var ae *apperr.Error
	if errors.As(err, &ae) && code != apperr.EINTERNAL {
		fields = ae.Fields
	}
	writeErrorBody(w, status, code, apperr.Message(err), fields)
}

func writeErrorBody(w http.ResponseWriter, status int, code, message string, fields map[string]string) {
	if fields == nil {
		fields = map[string]string{}
	}
	WriteJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: message, Fields: fields}})
}

// WriteJSON answers with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"An internal error occurred.","fields":{}}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// dataBody is the success shape: {"data": …}, with "links" and "meta" for
// lists.
type dataBody struct {
	Data  any        `json:"data"`
	Links *pageLinks `json:"links,omitempty"`
	Meta  *pageMeta  `json:"meta,omitempty"`
}

// pageLinks are the links of one page of a list, as Laravel's paginator
// writes them: the first and last pages always, the previous and next
// ones when they exist (null otherwise). They are path-absolute
// ("/api/tours?page=2"), built from the request's path and query, so the
// client's Host header never ends up in them.
type pageLinks struct {
	First string  `json:"first"`
	Last  string  `json:"last"`
	Prev  *string `json:"prev"`
	Next  *string `json:"next"`
}

// pageMeta describes one page of a list. From and To are the 1-based
// positions of the page's first and last items in the whole list, null
// for an empty page.
type pageMeta struct {
	CurrentPage int  `json:"current_page"`
	PerPage     int  `json:"per_page"`
	Total       int  `json:"total"`
	LastPage    int  `json:"last_page"`
	From        *int `json:"from"`
	To          *int `json:"to"`
}

// pageBody is the answer to a list request r: the page's items (count of
// them), its links and its meta.
func pageBody(r *http.Request, items any, count, page, perPage, total int) dataBody {
	last := (total + perPage - 1) / perPage
	if last < 1 {
		last = 1
	}
	meta := &pageMeta{CurrentPage: page, PerPage: perPage, Total: total, LastPage: last}
	if count > 0 {
		from, to := (page-1)*perPage+1, (page-1)*perPage+count
		meta.From, meta.To = &from, &to
	}
	link := func(n int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		return r.URL.Path + "?" + q.Encode()
	}
	links := &pageLinks{First: link(1), Last: link(last)}
	if page > 1 {
		prev := link(page - 1)
		links.Prev = &prev
	}
	if page < last {
		next := link(page + 1)
		links.Next = &next
	}
	return dataBody{Data: items, Links: links, Meta: meta}
}

// WriteData answers {"data": v}.
func WriteData(w http.ResponseWriter, status int, v any) {
	WriteJSON(w, status, dataBody{Data: v})
}
