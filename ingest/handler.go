package ingest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/web"
)

// Handler serves the ingest endpoints.
type Handler struct {
	committer  *Committer
	maxBody    atomic.Int64
	retryAfter atomic.Int64 // seconds
	log        *slog.Logger
	metrics    *Metrics
}

// HandlerOptions configure a Handler.
type HandlerOptions struct {
	MaxBodyBytes int64
	RetryAfter   time.Duration
	Logger       *slog.Logger
	Metrics      *Metrics
}

// NewHandler serves ingest through c.
func NewHandler(c *Committer, o HandlerOptions) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{committer: c, log: o.Logger, metrics: o.Metrics}
	h.SetLimits(o.MaxBodyBytes, o.RetryAfter)
	return h
}

// SetLimits changes the body limit and Retry-After (config reload).
func (h *Handler) SetLimits(maxBody int64, retryAfter time.Duration) {
	if maxBody <= 0 {
		maxBody = 10 << 20
	}
	if retryAfter < time.Second {
		retryAfter = 5 * time.Second
	}
	h.maxBody.Store(maxBody)
	h.retryAfter.Store(int64(retryAfter / time.Second))
}

// Register adds the ingest routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("POST /api/v1/alerts/alertmanager", h.endpoint("alertmanager", func(body []byte) ([]incident.AlertInput, error) {
		alerts, truncated, err := DecodeAlertmanager(body)
		if truncated > 0 {
			h.log.Warn("alertmanager truncated a webhook; raise max_alerts on its receiver", "truncated_alerts", truncated)
			if h.metrics != nil {
				h.metrics.truncated.Add(float64(truncated))
			}
		}
		return alerts, err
	}))
	mux.Handle("POST /api/v1/alerts", h.endpoint("generic", DecodeGeneric))
}

// Accepted is the body of a successful ingest response.
type Accepted struct {
	Status string `json:"status"`
	Alerts int    `json:"alerts"`
}

func (h *Handler) endpoint(name string, decode func([]byte) ([]incident.AlertInput, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := h.serve(w, r, decode, name)
		if h.metrics != nil {
			c := strconv.Itoa(code)
			h.metrics.requestSeconds.WithLabelValues(name, c).Observe(time.Since(start).Seconds())
			if code >= 400 {
				h.metrics.rejected.WithLabelValues(name, c).Inc()
			}
		}
	})
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, decode func([]byte) ([]incident.AlertInput, error), endpoint string) int {
	fail := func(code int, field, msg string) int {
		web.WriteError(w, r, code, field, msg)
		return code
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		return fail(http.StatusUnsupportedMediaType, "", "Content-Type must be application/json, got "+strconv.Quote(r.Header.Get("Content-Type")))
	}
	limit := h.maxBody.Load()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fail(http.StatusRequestEntityTooLarge, "", "body larger than ingest.max_body_bytes ("+strconv.FormatInt(limit, 10)+" bytes)")
		}
		return fail(http.StatusBadRequest, "", "reading body: "+err.Error())
	}
	alerts, err := decode(body)
	if err != nil {
		var bad *BadRequest
		if errors.As(err, &bad) {
			return fail(http.StatusBadRequest, bad.Field, bad.Error())
		}
		return fail(http.StatusBadRequest, "", err.Error())
	}
	if err := h.committer.Submit(r.Context(), endpoint, alerts); err != nil {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			return 499 // the sender hung up; it will retry
		}
		h.log.Warn("alerts not committed; answering 503 so the sender retries", "request_id", web.RequestID(r.Context()), "alerts", len(alerts), "err", err)
		w.Header().Set("Retry-After", strconv.FormatInt(h.retryAfter.Load(), 10))
		msg := "store unavailable, alerts not stored: retry later"
		if errors.Is(err, ErrClosed) {
			msg = "shutting down, alerts not stored: retry later"
		}
		return fail(http.StatusServiceUnavailable, "", msg)
	}
	web.WriteJSON(w, http.StatusOK, Accepted{Status: "success", Alerts: len(alerts)})
	return http.StatusOK
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}
