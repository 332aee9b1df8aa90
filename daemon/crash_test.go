package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/incidentd/incidentd/daemon/daemontest"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/ingest"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

// startDaemon runs the real binary on dsn and waits until it is ready.
func startDaemon(t *testing.T, dsn string) (*exec.Cmd, string) {
	t.Helper()
	return startDaemonWith(t, "../configs/incidentd.yml", dsn)
}

// startDaemonWith runs the real binary with a config file on dsn.
func startDaemonWith(t *testing.T, configFile, dsn string) (*exec.Cmd, string) {
	t.Helper()
	addr := daemontest.FreeAddr(t)
	var logs bytes.Buffer
	cmd := exec.Command(daemontest.Binary(t, "test"), "--config.file", configFile, "--storage.dsn", dsn, "--web.listen-address", addr)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd, "http://" + addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not ready: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSIGKILLLosesNoAcknowledgedAlert sends alerts from several clients,
// kills the daemon with SIGKILL mid-stream, and checks that every alert that
// got a 2xx is in the store, and that a restarted daemon serves them.
func TestSIGKILLLosesNoAcknowledgedAlert(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) { stopUnderLoad(t, b, syscall.SIGKILL) })
}

// TestSIGTERMFinishesInFlightCommits does the same with SIGTERM: the daemon
// must finish the requests in flight, commit them, and exit 0.
func TestSIGTERMFinishesInFlightCommits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) { stopUnderLoad(t, b, syscall.SIGTERM) })
}

func stopUnderLoad(t *testing.T, b store.Backend, sig syscall.Signal) {
	dsn := storetest.DSN(t, b)
	cmd, url := startDaemon(t, dsn)

	const workers, perRequest = 4, 25
	var mu sync.Mutex
	acked := map[string]bool{}
	enough := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for req := 0; req < 10000; req++ { // bounded; the kill ends it far sooner
				var batch []ingest.GenericAlert
				var fps []string
				for i := 0; i < perRequest; i++ {
					l := map[string]string{"alertname": "Crash", "worker": fmt.Sprint(w), "n": fmt.Sprint(req*perRequest + i)}
					batch = append(batch, ingest.GenericAlert{Labels: l})
					fps = append(fps, incident.Fingerprint(l))
				}
				body, _ := json.Marshal(batch)
				resp, err := client.Post(url+"/api/v1/alerts", "application/json", bytes.NewReader(body))
				if err != nil {
					return // the daemon is gone
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					continue
				}
				mu.Lock()
				for _, fp := range fps {
					acked[fp] = true
				}
				n := len(acked)
				mu.Unlock()
				if n >= 2000 {
					once.Do(func() { close(enough) })
				}
			}
		}()
	}
	select {
	case <-enough:
	case <-time.After(60 * time.Second):
		t.Fatal("daemon acknowledged fewer than 2000 alerts in 60s")
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	waitErr := cmd.Wait()
	wg.Wait()
	if sig == syscall.SIGTERM && waitErr != nil {
		t.Fatalf("after SIGTERM the daemon exited with %v, want 0", waitErr)
	}

	s, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var stored []string
	if err := s.DB().Select(&stored, "SELECT fingerprint FROM alerts"); err != nil {
		t.Fatal(err)
	}
	have := make(map[string]bool, len(stored))
	for _, fp := range stored {
		have[fp] = true
	}
	missing := 0
	for fp := range acked {
		if !have[fp] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged alerts missing after %v", missing, len(acked), sig)
	}
	t.Logf("%d alerts acknowledged before %v, %d stored, none lost", len(acked), sig, len(stored))

	// A restarted daemon opens the same store and serves what was kept.
	_, url = startDaemon(t, dsn)
	resp, err := http.Get(url + "/api/v1/alerts?limit=1")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("restarted daemon: %v %v", resp, err)
	}
	resp.Body.Close()
}
