package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/runbooks"
	"github.com/incidentd/incidentd/strictyaml"
)

// Mapping declares how an arbitrary JSON body becomes alerts. Every value
// is a Go template (missingkey=error, the runbook template functions) over
// one alert object of the body, whose numbers keep their JSON text.
type Mapping struct {
	// Alerts is the dot path to the list of alerts in the body
	// ("Records", "data.alerts"). Empty: the body is one alert, or a list
	// of alerts.
	Alerts string `yaml:"alerts"`
	// Labels and Annotations render one value each; a value that renders
	// empty is left out.
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
	// Summary renders the summary annotation.
	Summary string `yaml:"summary"`
	// Status renders the alert's status, looked up in StatusMap (exactly,
	// then case-insensitively); without a map it must render firing or
	// resolved. Empty: firing.
	Status    string            `yaml:"status"`
	StatusMap map[string]string `yaml:"status_map"`
	// Fingerprint renders the sender's dedup key; it is hashed with the
	// integration's name. Empty: the fingerprint of the labels.
	Fingerprint string `yaml:"fingerprint"`
	// StartsAt and EndsAt render an RFC 3339 time or Unix seconds (or
	// milliseconds, from 13 digits on); empty: unset.
	StartsAt     string `yaml:"starts_at"`
	EndsAt       string `yaml:"ends_at"`
	GeneratorURL string `yaml:"generator_url"`
}

// compiledMapping is a Mapping with its templates parsed.
type compiledMapping struct {
	name                           string
	path                           []string
	labels, annotations            map[string]*template.Template
	statusMap                      map[string]incident.AlertStatus
	status, fingerprint, summary   *template.Template
	startsAt, endsAt, generatorURL *template.Template
	labelOrder, annotationOrder    []string
}

func (m *Mapping) set() bool {
	return m.Alerts != "" || m.Labels != nil || m.Annotations != nil || m.Summary != "" || m.Status != "" || m.StatusMap != nil ||
		m.Fingerprint != "" || m.StartsAt != "" || m.EndsAt != "" || m.GeneratorURL != ""
}

func (m *Mapping) validate(d *strictyaml.Decoder, key string) {
	if _, err := m.compile(""); err != nil {
		d.Failf(key, "%v", err)
	}
	if len(m.Labels) == 0 {
		d.Failf(strictyaml.Join(key, "labels"), "at least one label is required (e.g. alertname)")
	}
}

var mappingFuncs = runbooks.TemplateFuncs()

func parseMappingTemplate(key, src string) (*template.Template, error) {
	t, err := template.New(key).Option("missingkey=error").Funcs(mappingFuncs).Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", key, err)
	}
	return t, nil
}

// compile parses every template of m for the integration name; the first
// error names its key.
func (m *Mapping) compile(name string) (*compiledMapping, error) {
	c := &compiledMapping{name: name, labels: map[string]*template.Template{}, annotations: map[string]*template.Template{}}
	if m.Alerts != "" {
		c.path = strings.Split(m.Alerts, ".")
		for _, p := range c.path {
			if p == "" {
				return nil, fmt.Errorf("alerts: %q is not a dot path such as data.alerts", m.Alerts)
			}
		}
	}
	for _, e := range []struct {
		key, src string
		into     **template.Template
	}{
		{"summary", m.Summary, &c.summary},
		{"status", m.Status, &c.status},
		{"fingerprint", m.Fingerprint, &c.fingerprint},
		{"starts_at", m.StartsAt, &c.startsAt},
		{"ends_at", m.EndsAt, &c.endsAt},
		{"generator_url", m.GeneratorURL, &c.generatorURL},
	} {
		if e.src == "" {
			continue // unset: its default applies
		}
		t, err := parseMappingTemplate(e.key, e.src)
		if err != nil {
			return nil, err
		}
		*e.into = t
	}
	for _, kv := range []struct {
		key   string
		src   map[string]string
		into  map[string]*template.Template
		order *[]string
	}{{"labels", m.Labels, c.labels, &c.labelOrder}, {"annotations", m.Annotations, c.annotations, &c.annotationOrder}} {
		for k, src := range kv.src {
			if kv.key == "labels" && !labelNameRe.MatchString(k) {
				return nil, fmt.Errorf("labels: %q is not a valid label name", k)
			}
			t, err := parseMappingTemplate(kv.key+"."+k, src)
			if err != nil {
				return nil, err
			}
			kv.into[k] = t
			*kv.order = append(*kv.order, k)
		}
		sort.Strings(*kv.order)
	}
	if len(m.StatusMap) > 0 {
		c.statusMap = map[string]incident.AlertStatus{}
		for k, v := range m.StatusMap {
			st := incident.AlertStatus(v)
			if st != incident.AlertFiring && st != incident.AlertResolved {
				return nil, fmt.Errorf("status_map: %q maps to %q, want firing or resolved", k, v)
			}
			c.statusMap[k] = st
		}
	}
	return c, nil
}

// decode maps body to alerts; errors are *BadRequest.
func (c *compiledMapping) decode(body []byte) ([]incident.AlertInput, error) {
	if err := checkUTF8(body); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // numbers render as sent: 1700000000, not 1.7e+09
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, jsonError(err)
	}
	if dec.More() {
		return nil, badf("", "unexpected data after the JSON value")
	}
	items, field, err := c.items(doc)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, badf(field, "no alerts in the payload")
	}
	alerts := make([]incident.AlertInput, len(items))
	for i, item := range items {
		f := fmt.Sprintf("%s[%d]", field, i)
		if _, ok := item.(map[string]any); !ok {
			return nil, badf(f, "wrong type: want an object")
		}
		in, err := c.alert(item, f)
		if err != nil {
			return nil, err
		}
		alerts[i] = in
	}
	return alerts, nil
}

// items finds the alert objects: the list at the configured path, or the
// body itself.
func (c *compiledMapping) items(doc any) ([]any, string, error) {
	field := ""
	for _, p := range c.path {
		obj, ok := doc.(map[string]any)
		if !ok {
			return nil, field, badf(field, "wrong type: want an object holding %q", p)
		}
		if doc, ok = obj[p]; !ok {
			return nil, strings.TrimPrefix(field+"."+p, "."), badf(strings.TrimPrefix(field+"."+p, "."), "missing: the mapping takes its alerts from here")
		}
		field = strings.TrimPrefix(field+"."+p, ".")
	}
	switch v := doc.(type) {
	case []any:
		return v, field, nil
	case map[string]any:
		return []any{v}, field, nil
	}
	return nil, field, badf(field, "wrong type: want an alert object or a list of them")
}

func (c *compiledMapping) alert(item any, field string) (incident.AlertInput, error) {
	render := func(key string, t *template.Template) (string, error) {
		var b strings.Builder
		if err := t.Execute(&b, item); err != nil {
			return "", badf(field+"."+key, "mapping failed: %s", cleanTemplateError(err))
		}
		if b.Len() > maxValueBytes {
			return "", badf(field+"."+key, "renders longer than %d bytes", maxValueBytes)
		}
		return strings.TrimSpace(b.String()), nil
	}
	kv := func(prefix string, order []string, ts map[string]*template.Template) (map[string]string, error) {
		out := make(map[string]string, len(order))
		for _, k := range order {
			v, err := render(prefix+"."+k, ts[k])
			if err != nil {
				return nil, err
			}
			if v != "" {
				out[k] = v
			}
		}
		return out, nil
	}
	in := incident.AlertInput{Source: c.name, Status: incident.AlertFiring}
	var err error
	if in.Labels, err = kv("labels", c.labelOrder, c.labels); err != nil {
		return in, err
	}
	if in.Annotations, err = kv("annotations", c.annotationOrder, c.annotations); err != nil {
		return in, err
	}
	if c.summary != nil {
		s, err := render("summary", c.summary)
		if err != nil {
			return in, err
		}
		if s != "" {
			in.Annotations["summary"] = s
		}
	}
	if c.status != nil {
		s, err := render("status", c.status)
		if err != nil {
			return in, err
		}
		if in.Status, err = c.mapStatus(s, field+".status"); err != nil {
			return in, err
		}
	}
	if c.fingerprint != nil {
		key, err := render("fingerprint", c.fingerprint)
		if err != nil {
			return in, err
		}
		if key != "" {
			in.Fingerprint = dedupFingerprint(c.name, key)
		}
	}
	for _, t := range []struct {
		key  string
		tmpl *template.Template
		into *time.Time
	}{{"starts_at", c.startsAt, &in.StartsAt}, {"ends_at", c.endsAt, &in.EndsAt}} {
		if t.tmpl == nil {
			continue
		}
		s, err := render(t.key, t.tmpl)
		if err != nil {
			return in, err
		}
		if *t.into, err = parseTimeOrUnix(s, field+"."+t.key); err != nil {
			return in, err
		}
	}
	if c.generatorURL != nil {
		if in.GeneratorURL, err = render("generator_url", c.generatorURL); err != nil {
			return in, err
		}
	}
	return in, validate(&in, field)
}

func (c *compiledMapping) mapStatus(s, field string) (incident.AlertStatus, error) {
	if c.statusMap == nil {
		switch st := incident.AlertStatus(strings.ToLower(s)); st {
		case incident.AlertFiring, incident.AlertResolved:
			return st, nil
		}
		return "", badf(field, "%q is not firing or resolved (add a status_map)", truncate(s))
	}
	if st, ok := c.statusMap[s]; ok {
		return st, nil
	}
	for k, st := range c.statusMap {
		if strings.EqualFold(k, s) {
			return st, nil
		}
	}
	return "", badf(field, "%q is not in the integration's status_map", truncate(s))
}

// dedupFingerprint turns a sender's dedup key, scoped to its integration
// (or routing key), into a fingerprint: fixed length, no spaces, and two
// sources cannot collide.
func dedupFingerprint(scope, key string) string {
	sum := sha256.Sum256([]byte(scope + "\x00" + key))
	return hex.EncodeToString(sum[:16])
}

// parseTimeOrUnix reads RFC 3339, or Unix seconds; 13 digits or more are
// milliseconds (Datadog's $DATE).
func parseTimeOrUnix(s, field string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		if len(s) >= 13 {
			return time.UnixMilli(n).UTC(), nil
		}
		return time.Unix(n, 0).UTC(), nil
	}
	return parseTime(s, field)
}

// cleanTemplateError drops text/template's "template: NAME:1:2: executing
// ..." preamble, which names our internals rather than the sender's data.
func cleanTemplateError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "> "); i >= 0 && strings.HasPrefix(msg, "template: ") {
		return msg[i+2:]
	}
	return msg
}
