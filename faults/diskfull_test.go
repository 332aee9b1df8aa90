package faults

import (
	"database/sql"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/incident"
)

// TestSQLiteDiskFull makes the SQLite store unwritable under a running
// daemon and then writable again. chmod does not stop root, and tests may
// run as root, so the fault is the file size limit (RLIMIT_FSIZE, set on the
// running process with prlimit(1)): every write past 4 KiB fails with EFBIG,
// as on a full disk (the Go runtime ignores SIGXFSZ, so the write fails
// instead of the signal killing the process). While the fault
// lasts, ingest answers 503 with a clear error in the log and no 200 for an
// alert it did not keep; afterwards it serves again by itself, the database
// passes PRAGMA integrity_check and holds every alert answered 200.
func TestSQLiteDiskFull(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit(1) not installed (util-linux): no way to fill the disk of one process")
	}
	file := filepath.Join(t.TempDir(), "incidentd.db")
	p := start(t, "incidentd", plainConfig(t), "sqlite://"+file)
	setLimit := func(v string) {
		t.Helper()
		if out, err := exec.Command(prlimit, "--pid", strconv.Itoa(p.cmd.Process.Pid), "--fsize="+v+":").CombinedOutput(); err != nil {
			t.Fatalf("prlimit --fsize=%s: %v %s", v, err, out)
		}
	}

	acked := map[string]bool{}
	n := 0
	// send posts one new alert and returns the status code.
	send := func() int {
		n++
		l := map[string]string{"alertname": "DiskFull", "n": strconv.Itoa(n)}
		resp, err := client.Post(p.url+"/api/v1/alerts", "application/json", strings.NewReader(fmt.Sprintf(`[{"labels":{"alertname":"DiskFull","n":"%d"}}]`, n)))
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			acked[incident.Fingerprint(l)] = true
		}
		return resp.StatusCode
	}
	for i := 0; i < 20; i++ {
		if code := send(); code != 200 {
			t.Fatalf("before the fault: %d", code)
		}
	}

	setLimit("4096")
	codes := map[int]int{}
	for i := 0; i < 20; i++ {
		codes[send()]++
	}
	if codes[503] == 0 || len(codes) > 2 || (len(codes) == 2 && codes[200] == 0) {
		t.Fatalf("answers with a full disk: %v, want 503 (and 200 only for alerts kept)", codes)
	}
	poll(t, 10*time.Second, "the store error in the log", func() bool {
		log := p.log.String()
		// SQLite reports EFBIG as SQLITE_IOERR_WRITE, a real full disk
		// as SQLITE_FULL.
		return strings.Contains(log, "alerts not committed") && (strings.Contains(log, "disk I/O error") || strings.Contains(log, "disk is full"))
	})

	setLimit("unlimited")
	poll(t, 15*time.Second, "ingest serving again", func() bool { return send() == 200 })
	for i := 0; i < 20; i++ {
		if code := send(); code != 200 {
			t.Fatalf("after the fault: %d", code)
		}
	}
	p.kill()

	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err)
	}
	if n := missing(t, db, acked); n > 0 {
		t.Fatalf("%d of %d alerts answered 200 are not in the store", n, len(acked))
	}
	db.Close()
	p = start(t, "incidentd again", plainConfig(t), "sqlite://"+file)
	var list struct {
		Alerts []any `json:"alerts"`
	}
	getJSON(t, p.url+"/api/v1/alerts?limit=500", &list)
	if len(list.Alerts) != len(acked) {
		t.Fatalf("restarted daemon lists %d alerts, %d were answered 200", len(list.Alerts), len(acked))
	}
	t.Logf("answers with a full disk %v; %d alerts kept, database ok", codes, len(acked))
}
