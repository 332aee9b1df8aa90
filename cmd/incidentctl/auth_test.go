package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/daemon"
	"github.com/incidentd/incidentd/daemon/daemontest"
)

const (
	ritaToken = "rita-0123456789abcdef0123456789"
	veraToken = "vera-0123456789abcdef0123456789"
)

// TestTokens: against a daemon with tokens, incidentctl sends the token as
// a bearer, leaves the actor to the token unless one is given, and reports
// 401 and 403 as errors.
func TestTokens(t *testing.T) {
	t.Parallel()
	base, _ := daemontest.Start(t, daemontest.SQLiteConfig(t.TempDir())+daemontest.TokensConfig(t,
		daemontest.Token{Name: "rita", Role: "responder", Secret: ritaToken},
		daemontest.Token{Name: "vera", Role: "viewer", Secret: veraToken},
	))
	postAlerts(t, base, `[{"labels":{"alertname":"A","service":"s"}}]`)
	rec := newRecorder(t, base)
	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		code      int
		stdout    string
		stderr    string
		sentActor string
	}{
		{"token from the environment, $USER left out", map[string]string{"INCIDENTD_TOKEN": ritaToken, "USER": "dave"}, nil, 0, "note added by rita", "", ""},
		{"--token", map[string]string{"USER": "dave"}, []string{"--token", ritaToken}, 0, "note added by rita", "", ""},
		{"the token's own name", map[string]string{"INCIDENTD_TOKEN": ritaToken}, []string{"--actor", "rita"}, 0, "note added by rita", "", "rita"},
		{"someone else's name", map[string]string{"INCIDENTD_TOKEN": ritaToken, "INCIDENTD_ACTOR": "mallory"}, nil, 1, "", `actor "mallory" is not the token's name "rita"`, "mallory"},
		{"no token", map[string]string{"USER": "dave"}, nil, 1, "", "authentication required", "dave"},
		{"a wrong token", map[string]string{"INCIDENTD_TOKEN": "wrong-0123456789abcdef"}, nil, 1, "", "invalid token (HTTP 401)", ""},
		{"a viewer token", map[string]string{"INCIDENTD_TOKEN": veraToken}, nil, 1, "", `token "vera" has role viewer`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"INCIDENTD_URL": rec.URL}
			for k, v := range tt.env {
				env[k] = v
			}
			r := cliEnv(t, env, time.Now(), append(tt.args, "incidents", "note", "INC-1", "hello")...)
			r.want(t, tt.code, []string{tt.stdout}, []string{tt.stderr})
			reqs := rec.take()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			var body map[string]any
			if err := json.Unmarshal([]byte(reqs[0].Body), &body); err != nil {
				t.Fatal(err)
			}
			if got, _ := body["actor"].(string); got != tt.sentActor {
				t.Errorf("sent actor %q, want %q", got, tt.sentActor)
			}
		})
	}
	var d api.IncidentDetail
	r := cliEnv(t, map[string]string{"INCIDENTD_URL": base, "INCIDENTD_TOKEN": veraToken}, time.Now(), "--output", "json", "incidents", "show", "1")
	if err := json.Unmarshal([]byte(r.stdout), &d); r.code != 0 || err != nil {
		t.Fatalf("show as viewer: %d %s %s", r.code, r.stdout, r.stderr)
	}
	var notes []string
	for _, ev := range d.Timeline {
		if ev.Message != "" && strings.Contains(ev.Message, "hello") {
			notes = append(notes, ev.Actor)
		}
	}
	if strings.Join(notes, ",") != "rita,rita,rita" {
		t.Errorf("notes by %v, want three by rita", notes)
	}
}

// TestTLS: incidentctl reaches an https incidentd whose certificate it
// trusts through --ca-file (or INCIDENTD_CA_FILE), refuses one it does not,
// and skips verification only when told.
func TestTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	daemontest.SelfSigned(t, dir)
	web := daemontest.WebConfig(t, dir, nil)
	base, _ := daemontest.StartWith(t, daemontest.SQLiteConfig(t.TempDir()), func(o *daemon.Options) { o.WebConfigFile = web })
	https := "https://" + strings.TrimPrefix(base, "http://")
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		code   int
		stderr string
	}{
		{"--ca-file", nil, []string{"--ca-file", filepath.Join(dir, "cert.pem")}, 0, ""},
		{"INCIDENTD_CA_FILE", map[string]string{"INCIDENTD_CA_FILE": filepath.Join(dir, "cert.pem")}, nil, 0, ""},
		{"--insecure-skip-verify", nil, []string{"--insecure-skip-verify"}, 0, ""},
		{"untrusted", nil, nil, 1, "certificate"},
		{"a CA file without a certificate", nil, []string{"--ca-file", notPEM}, 1, "no PEM certificate"},
		{"a missing CA file", nil, []string{"--ca-file", filepath.Join(dir, "nope.pem")}, 1, "--ca-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"INCIDENTD_URL": https}
			for k, v := range tt.env {
				env[k] = v
			}
			r := cliEnv(t, env, time.Now(), append(tt.args, "incidents", "list")...)
			r.want(t, tt.code, nil, []string{tt.stderr})
		})
	}
}
