package ingest

import (
	"context"
	"errors"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
)

// StoreAcknowledger acknowledges incidents in the store, recording the
// integration as the actor on the timeline.
type StoreAcknowledger struct {
	Store *store.Store
	Clock clock.Clock
}

// AcknowledgeAlert implements Acknowledger.
func (a StoreAcknowledger) AcknowledgeAlert(ctx context.Context, fingerprint, actor string) (string, error) {
	alerts, err := a.Store.Alerts(ctx, store.AlertFilter{Fingerprint: fingerprint, Status: incident.AlertFiring, Limit: 100})
	if err != nil {
		return "", err
	}
	for _, al := range alerts {
		if !al.Current || al.IncidentID == 0 {
			continue
		}
		inc, _, err := a.Store.Act(ctx, al.IncidentID, incident.ActionAcknowledge, actor, "", a.Clock.Now())
		if errors.Is(err, incident.ErrConflict) {
			return "", nil // acknowledged or resolved already
		}
		if err != nil {
			return "", err
		}
		return inc.Key(), nil
	}
	return "", nil
}
