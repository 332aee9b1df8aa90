package notify

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/strictyaml"
)

// section is how the daemon's config holds the notifiers: section.
type section struct {
	Notifiers Config `yaml:"notifiers"`
}

// parse decodes and validates a notifiers: document as config/ will.
func parse(t *testing.T, doc string) (Config, error) {
	t.Helper()
	var s section
	d, err := strictyaml.Parse("test.yml", []byte(doc), &s)
	if err != nil {
		return nil, err
	}
	s.Notifiers.Validate(d, "notifiers")
	return s.Notifiers, d.Err("test.yml")
}

// secrets resolves ${secret:NAME} from a map.
func secrets(m map[string]string) SecretFunc {
	return func(name string) (string, error) {
		v, ok := m[name]
		if !ok {
			return "", fmt.Errorf("not found")
		}
		return v, nil
	}
}

var testNow = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// build parses doc and builds the notifier called name.
func build1(t *testing.T, doc string, opts Options, name string) *Notifier {
	t.Helper()
	cfg, err := parse(t, doc)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if opts.Clock == nil {
		opts.Clock = clock.NewFake(testNow)
	}
	ns, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	n, ok := ns.Get(name)
	if !ok {
		t.Fatalf("no notifier %q", name)
	}
	return n
}

// message is a fully filled trigger for INC-12.
func message() Message {
	return Message{
		ID:               "INC-12/0/0/user:alice",
		Event:            EventTrigger,
		IncidentID:       "INC-12",
		Title:            "Checkout returns 5xx",
		Priority:         "P1",
		Status:           "triggered",
		RootCause:        "db-1",
		ImpactedServices: []string{"payments", "checkout"},
		Labels:           map[string]string{"alertname": "HighErrorRate", "service": "checkout"},
		URL:              "https://incidentd.example.com/incidents/INC-12",
		AckURL:           "https://incidentd.example.com/l?token=ack",
		ResolveURL:       "https://incidentd.example.com/l?token=res",
		Recipient:        Recipient{User: "alice", To: "alice@example.com"},
		Level:            1,
		Time:             testNow.Add(-time.Minute),
	}
}

// newServer starts a local HTTP endpoint closed at the end of the test.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func asError(err error, e **Error) bool { return errors.As(err, e) }
