package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/incidentd/incidentd/clock"
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
	clock      clock.Clock
	sources    atomic.Pointer[sources]
	acker      Acknowledger
	heartbeats *Heartbeats
}

// HandlerOptions configure a Handler.
type HandlerOptions struct {
	MaxBodyBytes int64
	RetryAfter   time.Duration
	Logger       *slog.Logger
	Metrics      *Metrics
	// Clock drives the rate limits; the wall clock if nil.
	Clock clock.Clock
	// Acknowledger applies PagerDuty acknowledge events; without it they
	// are answered 202 and logged, nothing else.
	Acknowledger Acknowledger
	// Heartbeats records heartbeat pings; without it the heartbeat
	// integrations answer 404.
	Heartbeats *Heartbeats
}

// NewHandler serves ingest through c. It serves no integrations until
// SetIntegrations: every fixed route is open.
func NewHandler(c *Committer, o HandlerOptions) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	h := &Handler{committer: c, log: o.Logger, metrics: o.Metrics, clock: o.Clock, acker: o.Acknowledger, heartbeats: o.Heartbeats}
	h.sources.Store(&sources{})
	h.SetLimits(o.MaxBodyBytes, o.RetryAfter)
	return h
}

// SetIntegrations resolves the secrets of list and serves it (start and
// config reload). On error the integrations in use stay.
func (h *Handler) SetIntegrations(list Integrations, secrets SecretFunc) error {
	s, err := buildSources(list, secrets, h.sources.Load())
	if err != nil {
		return err
	}
	h.sources.Store(s)
	return nil
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
	for typ, paths := range typedRoutes {
		if typ == TypePagerDuty {
			continue // below
		}
		for _, p := range paths {
			mux.Handle("POST "+p, h.endpoint(typ, func(r *http.Request, _ []byte) (*source, error) {
				return h.sources.Load().byType[typ], nil
			}))
		}
	}
	// A PagerDuty sender names its integration by routing key, whichever
	// of the two URLs it uses.
	for _, p := range typedRoutes[TypePagerDuty] {
		mux.Handle("POST "+p, h.endpoint(TypePagerDuty, h.pagerDutySource))
	}
	mux.Handle("POST /api/v1/integrations/{name}", h.named(""))
	mux.Handle("POST /api/v1/heartbeats/{name}", h.named(TypeHeartbeat))
}

// named serves /api/v1/integrations/{name} (and, with typ, only
// integrations of that type).
func (h *Handler) named(typ string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		src := h.sources.Load().byName[r.PathValue("name")]
		if src == nil || typ != "" && src.cfg.Type != typ || src.cfg.Type == TypeHeartbeat && h.heartbeats == nil {
			what := "integration"
			if typ != "" {
				what = typ
			}
			web.WriteError(w, r, http.StatusNotFound, "name", "no "+what+" named "+strconv.Quote(r.PathValue("name"))+" is configured")
			return
		}
		pick := func(*http.Request, []byte) (*source, error) { return src, nil }
		if src.cfg.Type == TypePagerDuty {
			pick = func(r *http.Request, body []byte) (*source, error) {
				found, err := h.pagerDutySource(r, body)
				if err == nil && found != src {
					err = &errUnauthorized{"unknown routing_key for this integration"}
				}
				return src, err
			}
		}
		h.endpoint(src.cfg.Type, pick).ServeHTTP(w, r)
	})
}

// pagerDutySource picks the pagerduty integration by the body's routing
// key. With none configured the endpoint is open.
func (h *Handler) pagerDutySource(_ *http.Request, body []byte) (*source, error) {
	s := h.sources.Load()
	if len(s.pagerDuty) == 0 {
		return nil, nil
	}
	var e struct {
		RoutingKey string `json:"routing_key"`
	}
	if err := checkUTF8(body); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, jsonError(err)
	}
	if src := s.pagerDutySource(e.RoutingKey); src != nil {
		return src, nil
	}
	return nil, &errUnauthorized{"unknown routing_key"}
}

// Accepted is the body of a successful ingest response.
type Accepted struct {
	Status string `json:"status"`
	Alerts int    `json:"alerts"`
}

// endpoint serves one route of format typ; pick finds the integration the
// request is for (nil: a fixed route no integration claims, open).
func (h *Handler) endpoint(typ string, pick func(*http.Request, []byte) (*source, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := h.serve(w, r, typ, pick)
		if h.metrics != nil {
			c := strconv.Itoa(code)
			h.metrics.requestSeconds.WithLabelValues(typ, c).Observe(time.Since(start).Seconds())
			if code >= 400 {
				h.metrics.rejected.WithLabelValues(typ, c).Inc()
			}
		}
	})
}

// serve reads the body, authenticates the request, takes a token from the
// integration's bucket, decodes, and commits: the same steps and answers
// for every source. It returns the status code sent.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, typ string, pick func(*http.Request, []byte) (*source, error)) int {
	reply := replyFor(typ)
	fail := func(code int, field, msg string) int {
		reply.fail(w, r, code, field, msg)
		return code
	}
	// A heartbeat is a ping: Alertmanager's Watchdog webhook, or curl
	// with no body; the body is read only for a signature.
	if typ != TypeHeartbeat && !isJSON(r.Header.Get("Content-Type")) {
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
	src, err := pick(r, body)
	if err == nil {
		err = src.authenticate(r, body)
	}
	var unauth *errUnauthorized
	if errors.As(err, &unauth) {
		return fail(http.StatusUnauthorized, "", unauth.msg)
	}
	if err != nil {
		return fail(http.StatusBadRequest, badField(err), err.Error())
	}
	if ok, wait := src.allow(h.clock.Now()); !ok {
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(wait.Seconds())), 10))
		return fail(http.StatusTooManyRequests, "", "rate limit of integration "+strconv.Quote(src.cfg.Name)+" exceeded: retry later")
	}
	code, resp, err := h.process(r.Context(), typ, src, body)
	if err != nil {
		var bad *BadRequest
		if errors.As(err, &bad) {
			return fail(http.StatusBadRequest, bad.Field, bad.Error())
		}
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			return 499 // the sender hung up; it will retry
		}
		h.log.Warn("alerts not committed; answering 503 so the sender retries", "request_id", web.RequestID(r.Context()), "source", typ, "err", err)
		w.Header().Set("Retry-After", strconv.FormatInt(h.retryAfter.Load(), 10))
		msg := "store unavailable, alerts not stored: retry later"
		if errors.Is(err, ErrClosed) {
			msg = "shutting down, alerts not stored: retry later"
		}
		return fail(http.StatusServiceUnavailable, "", msg)
	}
	web.WriteJSON(w, code, resp)
	return code
}

// process decodes body as typ and commits it, returning the success answer.
func (h *Handler) process(ctx context.Context, typ string, src *source, body []byte) (int, any, error) {
	var alerts []incident.AlertInput
	var err error
	switch typ {
	case TypeAlertmanager:
		var truncated uint64
		alerts, truncated, err = DecodeAlertmanager(body)
		h.truncated(typ, truncated)
	case TypeGrafana:
		var truncated uint64
		alerts, truncated, err = DecodeGrafana(body)
		h.truncated(typ, truncated)
	case TypeGeneric:
		alerts, err = DecodeGeneric(body)
	case TypeMapping:
		alerts, err = src.mapping.decode(body)
	case TypePagerDuty:
		return h.pagerDuty(ctx, src, body)
	case TypeHeartbeat:
		if err := h.heartbeats.Ping(ctx, src.cfg.Name); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, map[string]string{"status": "success", "heartbeat": src.cfg.Name}, nil
	}
	if err != nil {
		return 0, nil, err
	}
	if src != nil && typ != TypeMapping {
		for i := range alerts {
			if alerts[i].Source == typ || alerts[i].Source == "generic" {
				alerts[i].Source = src.cfg.Name
			}
		}
	}
	if err := h.committer.Submit(ctx, typ, alerts); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, Accepted{Status: "success", Alerts: len(alerts)}, nil
}

func (h *Handler) truncated(typ string, n uint64) {
	if n == 0 {
		return
	}
	h.log.Warn(typ+" truncated a webhook; raise its max alerts setting", "source", typ, "truncated_alerts", n)
	if h.metrics != nil && typ == TypeAlertmanager {
		h.metrics.truncated.Add(float64(n))
	}
}

func badField(err error) string {
	var bad *BadRequest
	if errors.As(err, &bad) {
		return bad.Field
	}
	return ""
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}
