package api

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/web"
)

// MaintenanceList is the body of GET /api/v1/maintenance.
type MaintenanceList struct {
	Windows []cmdb.Window `json:"windows"`
}

// MaintenanceRequest is the body of POST /api/v1/maintenance.
type MaintenanceRequest struct {
	CI     string    `json:"ci"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Reason string    `json:"reason"`
	Actor  string    `json:"actor"`
}

func (a *API) registerMaintenance(mux web.Mux) {
	mux.HandleFunc("GET /api/v1/maintenance", a.listMaintenance)
	mux.HandleFunc("POST /api/v1/maintenance", a.addMaintenance)
	mux.HandleFunc("DELETE /api/v1/maintenance/{id}", a.deleteMaintenance)
}

func (a *API) listMaintenance(w http.ResponseWriter, r *http.Request) {
	ws, err := a.cmdb.Maintenance(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if ws == nil {
		ws = []cmdb.Window{}
	}
	web.WriteJSON(w, http.StatusOK, MaintenanceList{Windows: ws})
}

func (a *API) addMaintenance(w http.ResponseWriter, r *http.Request) {
	var req MaintenanceRequest
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		web.WriteError(w, r, http.StatusUnsupportedMediaType, "", errMediaType.Error())
		return
	}
	body, err := readBody(w, r)
	if err == nil {
		err = decodeStrict(body, &req, false, `want {"ci", "start", "end" (RFC 3339), "reason", "actor"}`)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Actor, err = actorOf(r, req.Actor); err != nil {
		a.fail(w, r, err)
		return
	}
	if strings.TrimSpace(req.Actor) == "" {
		a.fail(w, r, &paramError{"actor", "required: who puts the CI in maintenance"})
		return
	}
	if _, ok := a.cmdb.Graph().CI(req.CI); !ok {
		a.fail(w, r, &paramError{"ci", "no CI with id " + strconv.Quote(req.CI) + " in the CMDB"})
		return
	}
	win := cmdb.Window{CI: req.CI, Start: req.Start, End: req.End, Reason: req.Reason, CreatedBy: req.Actor}
	if err := win.Check(); err != nil {
		a.fail(w, r, &paramError{"end", err.Error()})
		return
	}
	win, err = a.cmdb.AddMaintenance(r.Context(), win)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusCreated, win)
}

func (a *API) deleteMaintenance(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		a.fail(w, r, &paramError{"id", "not a maintenance window id"})
		return
	}
	if err := a.cmdb.DeleteMaintenance(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, map[string]string{"status": "deleted"})
}

// maintenanceOf lists why the incident's CIs are suppressed now, if any are.
func (a *API) maintenanceOf(c map[string]bool) []string {
	var out []string
	for ci := range c {
		if why, ok := a.cmdb.Suppression(ci); ok {
			out = append(out, why)
		}
	}
	sort.Strings(out)
	return out
}
