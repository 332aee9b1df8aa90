package daemon_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/daemon"
	"github.com/incidentd/incidentd/daemon/daemontest"
)

// TestTLSAndBasicAuth: with a web config file the daemon serves HTTPS only,
// with its certificate, and asks for basic auth when users are configured.
func TestTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	pool := daemontest.SelfSigned(t, dir)
	file := daemontest.WebConfig(t, dir, map[string]string{"ops": "s3cret-pass"})
	url, _ := daemontest.StartWith(t, daemontest.SQLiteConfig(t.TempDir()), func(o *daemon.Options) { o.WebConfigFile = file })
	addr := strings.TrimPrefix(url, "http://")
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	get := func(c *http.Client, url, user, pw string) (int, error) {
		req, _ := http.NewRequest("GET", url, nil)
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	tests := []struct {
		name     string
		client   *http.Client
		url      string
		user, pw string
		want     int
		wantErr  bool
	}{
		{"https with the password", trusting, "https://" + addr + "/api/v1/incidents", "ops", "s3cret-pass", 200, false},
		{"https without a password", trusting, "https://" + addr + "/-/healthy", "", "", 401, false},
		{"https with a wrong password", trusting, "https://" + addr + "/-/healthy", "ops", "guess", 401, false},
		{"https with an unknown user", trusting, "https://" + addr + "/-/healthy", "root", "s3cret-pass", 401, false},
		// Go's TLS server answers a plain request with 400, nothing more.
		{"plain http", http.DefaultClient, "http://" + addr + "/-/healthy", "ops", "s3cret-pass", 400, false},
		{"https to a client that does not trust the cert", http.DefaultClient, "https://" + addr + "/-/healthy", "ops", "s3cret-pass", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := get(tt.client, tt.url, tt.user, tt.pw)
			if tt.wantErr {
				var unknown x509.UnknownAuthorityError
				if !errors.As(err, &unknown) {
					t.Fatalf("err %v (status %d), want an unknown authority error", err, code)
				}
				return
			}
			if err != nil || code != tt.want {
				t.Fatalf("status %d err %v, want %d", code, err, tt.want)
			}
		})
	}
}

// TestTLSWithTokens: API tokens work over HTTPS.
func TestTLSWithTokens(t *testing.T) {
	dir := t.TempDir()
	pool := daemontest.SelfSigned(t, dir)
	file := daemontest.WebConfig(t, dir, nil)
	url, _ := daemontest.StartWith(t, authConfig(t, "sqlite://"+filepath.Join(t.TempDir(), "i.db"), ""), func(o *daemon.Options) { o.WebConfigFile = file })
	https := "https://" + strings.TrimPrefix(url, "http://")
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if code, _, body := call(t, c, "GET", https+"/api/v1/incidents", roleTokens[api.Viewer]); code != 200 {
		t.Errorf("viewer over https: %d %s", code, body)
	}
	if code, _, _ := call(t, c, "GET", https+"/api/v1/incidents", ""); code != 401 {
		t.Errorf("no token over https: %d, want 401", code)
	}
}

// TestWebConfigRefused: a web config that cannot work stops the start with
// a reason: a missing certificate, or basic auth together with API tokens
// (both need the Authorization header).
func TestWebConfigRefused(t *testing.T) {
	dir := t.TempDir()
	daemontest.SelfSigned(t, dir)
	withUsers := daemontest.WebConfig(t, dir, map[string]string{"ops": "pw"})
	missing := filepath.Join(dir, "missing.yml")
	os.WriteFile(missing, []byte("tls_server_config:\n  cert_file: nope.pem\n  key_file: key.pem\n"), 0o600)
	tests := []struct {
		name, config, webConfig, want string
	}{
		{"basic auth and tokens", authConfig(t, "sqlite://"+filepath.Join(t.TempDir(), "i.db"), ""), withUsers, "Authorization header"},
		{"missing certificate", daemontest.SQLiteConfig(t.TempDir()), missing, "nope.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgFile := filepath.Join(t.TempDir(), "incidentd.yml")
			os.WriteFile(cfgFile, []byte(tt.config), 0o600)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := daemon.Run(ctx, daemon.Options{
				ConfigFile: cfgFile, ListenAddress: "127.0.0.1:0", WebConfigFile: tt.webConfig,
				Ready: func(string) { t.Error("daemon served") },
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run: %v, want an error naming %q", err, tt.want)
			}
		})
	}
}
