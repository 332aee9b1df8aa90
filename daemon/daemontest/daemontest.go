// Package daemontest starts real incidentd daemons for tests: in-process on
// a config file, or as the built binary.
package daemontest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentd/incidentd/daemon"
)

// Start runs daemon.Run in-process on configText (written to a file in a
// temp dir, whose path it returns) and returns the base URL. The daemon stops
// when the test ends; an error from Run fails the test.
func Start(t testing.TB, configText string) (url, configFile string) {
	t.Helper()
	return StartWith(t, configText, nil)
}

// StartWith is Start with options: set, if not nil, changes them before
// the daemon runs (a web config file, a Router hook).
func StartWith(t testing.TB, configText string, set func(*daemon.Options)) (url, configFile string) {
	t.Helper()
	configFile = filepath.Join(t.TempDir(), "incidentd.yml")
	if err := os.WriteFile(configFile, []byte(configText), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	opts := daemon.Options{
		ConfigFile: configFile, ListenAddress: "127.0.0.1:0", Version: "test",
		Ready: func(addr string) { ready <- addr },
	}
	if set != nil {
		set(&opts)
	}
	go func() { done <- daemon.Run(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon.Run: %v", err)
		}
	})
	select {
	case addr := <-ready:
		return "http://" + addr, configFile
	case err := <-done:
		done <- err // for the cleanup
		t.Fatalf("daemon exited before serving: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("daemon not serving after 60s")
	}
	return "", ""
}

// SQLiteConfig is a minimal config on a fresh SQLite file in dir.
func SQLiteConfig(dir string) string {
	return "storage:\n  dsn: sqlite://" + filepath.Join(dir, "incidentd.db") + "\nlog:\n  level: error\n"
}

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// Binary builds cmd/incidentd from this checkout once per test process and
// version (set as main.version, visible in incidentd_build_info) and returns
// its path.
func Binary(t testing.TB, version string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := built[version]; ok {
		return bin
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD: not inside the module (%v)", err)
	}
	dir, err := os.MkdirTemp("", "incidentd-bin-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "incidentd")
	cmd := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.version="+version, "./cmd/incidentd")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/incidentd: %v\n%s", err, out)
	}
	built[version] = bin
	return bin
}

// FreeAddr returns 127.0.0.1:PORT with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
