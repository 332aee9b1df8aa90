package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

func TestCMDBRoundTripAndAtomicUpdate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		doc, meta, err := s.LoadCMDB(ctx)
		if err != nil || len(doc.CIs) != 0 || meta.Version != 0 {
			t.Fatalf("empty CMDB: %+v %+v %v", doc, meta, err)
		}
		want, err := cmdb.Parse("x.yml", []byte(`cis:
  - {id: z-service, class: business_service, criticality: 1}
  - {id: a-db, class: database, attributes: {port: 5432}, match: [{service: db}]}
relations:
  - {from: z-service, type: depends_on, to: a-db}
`))
		if err != nil {
			t.Fatal(err)
		}
		_, meta, err = s.UpdateCMDB(ctx, "files", "h1", t0, func(*cmdb.Document, store.CMDBMeta) (*cmdb.Document, error) { return want, nil })
		if err != nil || meta.Version != 1 {
			t.Fatalf("save: %+v %v", meta, err)
		}
		got, meta, err := s.LoadCMDB(ctx)
		if err != nil || meta.Source != "files" || meta.FilesHash != "h1" {
			t.Fatalf("load: %+v %v", meta, err)
		}
		// Document order is kept: the first matching CI wins correlation.
		if len(got.CIs) != 2 || got.CIs[0].ID != "z-service" || got.CIs[1].Attributes["port"] != "5432" || got.CIs[1].Match[0]["service"] != "db" {
			t.Fatalf("CIs: %+v", got.CIs)
		}
		if len(got.Relations) != 1 || got.Relations[0] != (cmdb.Relation{From: "z-service", Type: "depends_on", To: "a-db"}) {
			t.Fatalf("relations: %+v", got.Relations)
		}
		// A failing change leaves the stored CMDB as it was.
		boom := errors.New("invalid")
		if _, _, err := s.UpdateCMDB(ctx, "api", "", t0, func(*cmdb.Document, store.CMDBMeta) (*cmdb.Document, error) { return nil, boom }); !errors.Is(err, boom) {
			t.Fatalf("failing change: %v", err)
		}
		if _, meta, _ := s.LoadCMDB(ctx); meta.Version != 1 {
			t.Fatalf("version after failed change: %d", meta.Version)
		}
	})
}
