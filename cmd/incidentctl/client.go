package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/web"
)

// maxResponseBytes bounds what the client reads from one response.
const maxResponseBytes = 64 << 20

// client calls incidentd's JSON API.
type client struct {
	base    string // scheme://host[:port][/prefix], no trailing slash
	token   string
	timeout time.Duration
	http    *http.Client
	// err, when set, fails every request: a --ca-file that cannot be used.
	err error
}

func newClient(base, token string, timeout time.Duration) *client {
	return &client{
		base:    strings.TrimRight(base, "/"),
		token:   token,
		timeout: timeout,
		http:    &http.Client{Timeout: timeout},
	}
}

// setTLS trusts the CA certificates of caFile (PEM) for https, or with
// insecure verifies no certificate at all.
func (c *client) setTLS(caFile string, insecure bool) {
	if caFile == "" && !insecure {
		return
	}
	conf := &tls.Config{InsecureSkipVerify: insecure}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			c.err = fmt.Errorf("--ca-file: %w", err)
			return
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			c.err = fmt.Errorf("--ca-file %s: no PEM certificate in it", caFile)
			return
		}
		conf.RootCAs = pool
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = conf
	c.http.Transport = t
}

// apiError is an error answer of the API.
type apiError struct {
	Status    int
	Message   string
	Field     string
	RequestID string
	// Errors lists every problem, when there are several (a CMDB document).
	Errors []string
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (HTTP %d)", e.Message, e.Status)
	for _, x := range e.Errors {
		b.WriteString("\n  " + clean(x))
	}
	return b.String()
}

// connError is a request that got no HTTP answer.
type connError struct {
	base    string
	timeout time.Duration
	err     error
}

func (e *connError) Error() string {
	var ne net.Error
	if errors.As(e.err, &ne) && ne.Timeout() && e.timeout > 0 {
		return fmt.Sprintf("no answer from incidentd at %s within %s (raise --timeout?)", e.base, e.timeout)
	}
	err := e.err
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its message repeats the whole request URL
	}
	return fmt.Sprintf("cannot reach incidentd at %s: %v (check --url or INCIDENTD_URL)", e.base, err)
}

func (e *connError) Unwrap() error { return e.err }

// do sends a request with in (if not nil) as its JSON body, decodes a
// successful answer into out (if not nil) and returns the raw body.
func (c *client) do(ctx context.Context, method, path string, query url.Values, in, out any) (json.RawMessage, error) {
	if c.err != nil {
		return nil, c.err
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "incidentctl")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &connError{base: c.base, timeout: c.timeout, err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, &connError{base: c.base, timeout: c.timeout, err: fmt.Errorf("reading the answer to %s %s: %w", method, path, err)}
	}
	if len(raw) > maxResponseBytes {
		return nil, fmt.Errorf("answer to %s %s is larger than %d bytes", method, path, maxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, newAPIError(resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("unexpected answer to %s %s from %s: %v", method, path, c.base, err)
		}
	}
	return raw, nil
}

// newAPIError reads an error body: incidentd's {"error": ...}, or whatever
// a proxy in between answered.
func newAPIError(status int, body []byte) *apiError {
	var e web.Error
	if err := json.Unmarshal(body, &e); err == nil && e.Error != "" {
		return &apiError{Status: status, Message: e.Error, Field: e.Field, RequestID: e.RequestID, Errors: e.Errors}
	}
	msg := http.StatusText(status)
	if msg == "" {
		msg = "HTTP error"
	}
	if snippet := firstLine(body, 200); snippet != "" {
		msg += ": " + snippet
	}
	return &apiError{Status: status, Message: msg}
}

func firstLine(b []byte, max int) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

func incidentPath(id int64) string {
	return "/api/v1/incidents/" + strconv.FormatInt(id, 10)
}

// listIncidents gets one page of incidents.
func (c *client) listIncidents(ctx context.Context, q url.Values) (api.IncidentList, json.RawMessage, error) {
	var out api.IncidentList
	raw, err := c.do(ctx, http.MethodGet, "/api/v1/incidents", q, nil, &out)
	return out, raw, err
}

// incident gets one incident with its alerts and timeline.
func (c *client) incident(ctx context.Context, id int64) (api.IncidentDetail, json.RawMessage, error) {
	var out api.IncidentDetail
	raw, err := c.do(ctx, http.MethodGet, incidentPath(id), nil, nil, &out)
	return out, raw, err
}

// act posts an action (acknowledge, resolve, close, notes) on an incident.
func (c *client) act(ctx context.Context, id int64, endpoint string, req api.ActionRequest) (api.ActionResult, json.RawMessage, error) {
	var out api.ActionResult
	raw, err := c.do(ctx, http.MethodPost, incidentPath(id)+"/"+endpoint, nil, req, &out)
	return out, raw, err
}

// listAlerts gets one page of alerts.
func (c *client) listAlerts(ctx context.Context, q url.Values) (api.AlertList, json.RawMessage, error) {
	var out api.AlertList
	raw, err := c.do(ctx, http.MethodGet, "/api/v1/alerts", q, nil, &out)
	return out, raw, err
}
