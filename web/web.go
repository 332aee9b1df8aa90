// Package web holds what every HTTP handler of incidentd shares: JSON
// responses and errors, request ids and access logs.
package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"
)

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
	// Field names the offending input field, where there is one.
	Field string `json:"field,omitempty"`
	// Errors lists every problem when there are several (a CMDB document).
	Errors []string `json:"errors,omitempty"`
	// RequestID lets an operator find the matching log line.
	RequestID string `json:"request_id,omitempty"`
}

// Mux is what routes are registered on: an *http.ServeMux, or api.Router,
// which puts each route behind the access its route table declares.
type Mux interface {
	Handle(pattern string, h http.Handler)
	HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request))
}

// WriteJSON writes v with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing to do
}

// WriteError writes {"error": msg} with status.
func WriteError(w http.ResponseWriter, r *http.Request, status int, field, msg string) {
	WriteJSON(w, status, Error{Error: msg, Field: field, RequestID: RequestID(r.Context())})
}

type ctxKey struct{}

// RequestID returns the request id of ctx, if any.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// validRequestID accepts a caller's X-Request-Id only if it is short and
// plain, so it can go into logs as is.
func validRequestID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Logged gives each request an id (the caller's X-Request-Id if plain, else
// a new one), echoes it in the response, and logs the request when done.
func Logged(log *slog.Logger, next http.Handler) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			var b [8]byte
			rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
		level := slog.LevelDebug
		if rec.status >= 500 {
			level = slog.LevelWarn
		} else if rec.status >= 400 {
			level = slog.LevelInfo
		}
		log.Log(r.Context(), level, "http request", "request_id", id, "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "duration", time.Since(start), "remote", r.RemoteAddr)
	})
}
