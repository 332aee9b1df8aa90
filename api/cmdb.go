package api

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/strictyaml"
	"github.com/incidentd/incidentd/web"
)

// maxCMDBBytes bounds a CMDB document sent whole (100,000 CIs fit).
const maxCMDBBytes = 256 << 20

// CMDB is the configuration database the API reads and changes.
type CMDB interface {
	Graph() *cmdb.Graph
	Meta() store.CMDBMeta
	Replace(ctx context.Context, doc *cmdb.Document, source string) (store.CMDBMeta, error)
	Patch(ctx context.Context, p *cmdb.Patch, source string) (store.CMDBMeta, error)
	Maintenance(ctx context.Context) ([]cmdb.Window, error)
	AddMaintenance(ctx context.Context, w cmdb.Window) (cmdb.Window, error)
	DeleteMaintenance(ctx context.Context, id int64) error
	Suppression(ci string) (string, bool)
}

// CMDBDocument is the body of GET /api/v1/cmdb.
type CMDBDocument struct {
	Version int64  `json:"version"`
	Source  string `json:"source"`
	*cmdb.Document
}

// CMDBChanged answers PUT and PATCH.
type CMDBChanged struct {
	Version   int64 `json:"version"`
	CIs       int   `json:"cis"`
	Relations int   `json:"relations"`
}

// CIView is the body of GET /api/v1/cmdb/cis/{id}.
type CIView struct {
	*cmdb.CI
	Relations []cmdb.Relation `json:"relations"`
}

// ImpactView is the body of GET /api/v1/cmdb/cis/{id}/impact.
type ImpactView struct {
	CI       string          `json:"ci"`
	Impacted []cmdb.Impacted `json:"impacted"`
}

func (a *API) registerCMDB(mux web.Mux) {
	mux.HandleFunc("GET /api/v1/cmdb", a.getCMDB)
	mux.HandleFunc("PUT /api/v1/cmdb", a.putCMDB)
	mux.HandleFunc("PATCH /api/v1/cmdb", a.patchCMDB)
	mux.HandleFunc("GET /api/v1/cmdb/cis/{id}", a.getCI)
	mux.HandleFunc("GET /api/v1/cmdb/cis/{id}/impact", a.getImpact)
	a.registerMaintenance(mux)
}

func (a *API) getCMDB(w http.ResponseWriter, r *http.Request) {
	meta := a.cmdb.Meta()
	web.WriteJSON(w, http.StatusOK, CMDBDocument{Version: meta.Version, Source: meta.Source, Document: a.cmdb.Graph().Document()})
}

// readDocument reads a YAML or JSON body.
func readDocument(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
	default:
		web.WriteError(w, r, http.StatusUnsupportedMediaType, "", "Content-Type must be application/json or application/yaml, got "+strconv.Quote(r.Header.Get("Content-Type")))
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCMDBBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			web.WriteError(w, r, http.StatusRequestEntityTooLarge, "", "body larger than 256 MiB")
		} else {
			web.WriteError(w, r, http.StatusBadRequest, "", "reading body: "+err.Error())
		}
		return nil, false
	}
	return body, true
}

// invalid answers 400 listing every problem of a rejected document.
func invalid(w http.ResponseWriter, r *http.Request, err error) {
	var errs strictyaml.Errors
	if !errors.As(err, &errs) {
		web.WriteError(w, r, http.StatusBadRequest, "", err.Error())
		return
	}
	e := web.Error{Error: strconv.Itoa(len(errs)) + " problem(s); nothing was changed", RequestID: web.RequestID(r.Context())}
	for _, x := range errs {
		e.Errors = append(e.Errors, x.Error())
	}
	web.WriteJSON(w, http.StatusBadRequest, e)
}

func (a *API) putCMDB(w http.ResponseWriter, r *http.Request) {
	body, ok := readDocument(w, r)
	if !ok {
		return
	}
	doc, err := cmdb.Parse("body", body)
	if err != nil {
		invalid(w, r, err)
		return
	}
	a.changed(w, r, func() (store.CMDBMeta, error) { return a.cmdb.Replace(r.Context(), doc, "api") })
}

func (a *API) patchCMDB(w http.ResponseWriter, r *http.Request) {
	body, ok := readDocument(w, r)
	if !ok {
		return
	}
	p, err := cmdb.ParsePatch("body", body)
	if err != nil {
		invalid(w, r, err)
		return
	}
	a.changed(w, r, func() (store.CMDBMeta, error) { return a.cmdb.Patch(r.Context(), p, "api") })
}

func (a *API) changed(w http.ResponseWriter, r *http.Request, change func() (store.CMDBMeta, error)) {
	meta, err := change()
	var errs strictyaml.Errors
	if errors.As(err, &errs) {
		invalid(w, r, err)
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	doc := a.cmdb.Graph().Document()
	web.WriteJSON(w, http.StatusOK, CMDBChanged{Version: meta.Version, CIs: len(doc.CIs), Relations: len(doc.Relations)})
}

func (a *API) lookupCI(w http.ResponseWriter, r *http.Request) (*cmdb.CI, *cmdb.Graph, bool) {
	g := a.cmdb.Graph()
	id := r.PathValue("id")
	ci, ok := g.CI(id)
	if !ok {
		web.WriteError(w, r, http.StatusNotFound, "", "no CI with id "+strconv.Quote(id))
		return nil, nil, false
	}
	return ci, g, true
}

func (a *API) getCI(w http.ResponseWriter, r *http.Request) {
	ci, g, ok := a.lookupCI(w, r)
	if !ok {
		return
	}
	rels := g.Relations(ci.ID)
	if rels == nil {
		rels = []cmdb.Relation{}
	}
	web.WriteJSON(w, http.StatusOK, CIView{CI: ci, Relations: rels})
}

func (a *API) getImpact(w http.ResponseWriter, r *http.Request) {
	ci, g, ok := a.lookupCI(w, r)
	if !ok {
		return
	}
	impacted := g.Impact([]string{ci.ID})
	if impacted == nil {
		impacted = []cmdb.Impacted{}
	}
	web.WriteJSON(w, http.StatusOK, ImpactView{CI: ci.ID, Impacted: impacted})
}
