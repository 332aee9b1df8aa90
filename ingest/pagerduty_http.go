package ingest

import (
	"context"
	"net/http"
	"strings"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/web"
)

// Acknowledger acknowledges the open incident that holds the current
// occurrence of an alert, on behalf of actor. It returns the incident's
// key, or "" if no open, unacknowledged incident holds the alert.
type Acknowledger interface {
	AcknowledgeAlert(ctx context.Context, fingerprint, actor string) (incidentKey string, err error)
}

// pagerDutyResponse is the Events API v2 answer, which senders parse.
type pagerDutyResponse struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

// replier writes error answers in a source's own format.
type replier interface {
	fail(w http.ResponseWriter, r *http.Request, code int, field, msg string)
}

type webReply struct{}

func (webReply) fail(w http.ResponseWriter, r *http.Request, code int, field, msg string) {
	web.WriteError(w, r, code, field, msg)
}

// pagerDutyReply answers errors as PagerDuty does, so that its clients
// read them: {"status":"invalid event","message":"Event object is
// invalid","errors":[...]}.
type pagerDutyReply struct{}

func (pagerDutyReply) fail(w http.ResponseWriter, _ *http.Request, code int, _, msg string) {
	resp := pagerDutyResponse{Status: strings.ToLower(http.StatusText(code)), Message: msg, Errors: []string{msg}}
	switch code {
	case http.StatusBadRequest:
		resp.Status, resp.Message = "invalid event", "Event object is invalid"
		resp.Errors = strings.Split(msg, "; ")
	case http.StatusTooManyRequests:
		resp.Status = "throttle event"
	}
	web.WriteJSON(w, code, resp)
}

func replyFor(typ string) replier {
	if typ == TypePagerDuty {
		return pagerDutyReply{}
	}
	return webReply{}
}

// pagerDuty applies one Events API v2 event: trigger and resolve through
// the committer like any alert; acknowledge through the Acknowledger.
func (h *Handler) pagerDuty(ctx context.Context, src *source, body []byte) (int, any, error) {
	ev, err := DecodePagerDuty(body)
	if err != nil {
		return 0, nil, err
	}
	name := TypePagerDuty
	if src != nil {
		name = src.cfg.Name
	}
	ok := pagerDutyResponse{Status: "success", Message: "Event processed", DedupKey: ev.DedupKey}
	if ev.Action == PagerDutyAcknowledge {
		if h.acker == nil {
			h.log.Warn("pagerduty acknowledge received but this daemon cannot acknowledge: ignored", "integration", name)
			ok.Message = "Event processed; acknowledge not applied"
			return http.StatusAccepted, ok, nil
		}
		key, err := h.acker.AcknowledgeAlert(ctx, ev.Alert.Fingerprint, "integration:"+name)
		if err != nil {
			return 0, nil, err
		}
		if key == "" {
			ok.Message = "Event processed; no open unacknowledged incident holds this dedup_key"
		} else {
			ok.Message = "Event processed; " + key + " acknowledged"
		}
		return http.StatusAccepted, ok, nil
	}
	ev.Alert.Source = name
	if err := h.committer.Submit(ctx, TypePagerDuty, []incident.AlertInput{ev.Alert}); err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, ok, nil
}
