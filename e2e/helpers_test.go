package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// httpClient bounds every request so that a hung peer fails the test instead
// of hanging it until go test's global timeout.
var httpClient = &http.Client{Timeout: 5 * time.Second}

// binary returns the path of an external program: $env if set, else def. A
// missing program fails the test: with INCIDENTD_E2E=1 the caller asked for
// the end-to-end run, and CI must not pass by silently skipping it.
func binary(t *testing.T, env, def string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		p = def
	}
	path, err := exec.LookPath(p)
	if err != nil {
		t.Fatalf("%s not usable (%v): install it or set %s", p, err, env)
	}
	return path
}

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// syncBuffer collects a process's output; exec copies into it from its own
// goroutine while the test may read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// tail returns at most the last n bytes, starting at a line boundary,
// without the lines omit matches.
func (b *syncBuffer) tail(n int, omit func(line string) bool) string {
	b.mu.Lock()
	s := b.buf.String()
	b.mu.Unlock()
	if omit != nil {
		var kept []string
		for _, line := range strings.SplitAfter(s, "\n") {
			if !omit(line) {
				kept = append(kept, line)
			}
		}
		s = strings.Join(kept, "")
	}
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "...\n" + s
}

// process is a subprocess owned by one test.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, set before done is closed
	// omit, if set, leaves lines out of the output logged on failure.
	omit func(line string) bool
	// mustStopCleanly fails the test unless SIGTERM makes the process exit
	// with status 0 within the grace period: for the program under test,
	// not for the tools around it.
	mustStopCleanly bool
}

// startProcess starts bin with args. Its stdout and stderr go to the test log
// if the test fails. t.Cleanup stops it: SIGTERM, then SIGKILL if it has not
// exited within a few seconds. setDeathSignal additionally has the kernel
// kill it if the test binary itself dies (e.g. go test's -timeout panic),
// when no cleanup runs.
func startProcess(t *testing.T, name, bin string, args ...string) *process {
	t.Helper()
	p := &process{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	setDeathSignal(p.cmd)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			if p.mustStopCleanly {
				t.Errorf("stopping %s: %v", name, err)
			} else {
				t.Logf("stopping %s: %v", name, err)
			}
		}
		if t.Failed() {
			t.Logf("---- %s %s (pid %d) output ----\n%s", name, strings.Join(args, " "), p.cmd.Process.Pid, p.out.tail(32<<10, p.omit))
		}
	})
	return p
}

// stopGrace is how long a process may take to exit after SIGTERM before it
// is killed.
const stopGrace = 5 * time.Second

// stop terminates the process gracefully, then forcibly. It reports a
// process that had to be killed or exited with an error.
func (p *process) stop() error {
	if p.exited() {
		return fmt.Errorf("had exited before the test ended: %v", p.err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("after SIGTERM: %v", p.err)
		}
		return nil
	case <-time.After(stopGrace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("still running %s after SIGTERM: killed", stopGrace)
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// checkRunning fails the test at once if a process has died, rather than
// letting a poll wait for its deadline.
func checkRunning(t *testing.T, procs ...*process) {
	t.Helper()
	for _, p := range procs {
		if p != nil && p.exited() {
			t.Fatalf("%s exited unexpectedly: %v", p.name, p.err)
		}
	}
}

// poll calls cond until it returns nil, failing the test with cond's last
// error once timeout has passed. procs are checked on every round so that a
// crashed process fails fast. Fixed sleeps would be either flaky or slow;
// polling with a deadline is neither.
func poll(t *testing.T, what string, timeout time.Duration, procs []*process, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		checkRunning(t, procs...)
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitReady waits for GET baseURL/-/ready to answer 200; incidentd,
// Alertmanager and Prometheus all serve it.
func waitReady(t *testing.T, p *process, baseURL string) {
	t.Helper()
	poll(t, p.name+" ready", 30*time.Second, []*process{p}, func() error {
		resp, err := httpClient.Get(baseURL + "/-/ready")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("GET /-/ready: %s: %s", resp.Status, body)
		}
		return nil
	})
}

// getJSON decodes the JSON body of GET url into v. It returns an error
// rather than failing so that it can be used inside poll conditions.
func getJSON(url string, v any) error {
	resp, err := httpClient.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: decoding %s: %v", url, body, err)
	}
	return nil
}

// mustGetJSON is getJSON for assertions outside polls.
func mustGetJSON(t *testing.T, url string, v any) {
	t.Helper()
	if err := getJSON(url, v); err != nil {
		t.Fatal(err)
	}
}

// postJSON posts v as JSON to url and fails the test on a non-2xx answer.
func postJSON(t *testing.T, url string, v any) {
	t.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %s: %s", url, resp.Status, b)
	}
}

// metric sums every sample of the metric name whose labels contain all of
// match (e.g. `source="alertmanager"`) in a Prometheus text exposition. A
// metric that is absent sums to 0, as a counter never incremented would.
func metric(url, name string, match ...string) (float64, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // a comment, another metric, or one whose name only starts with name
		}
		labels, value := "", rest
		if rest[0] == '{' {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				return 0, fmt.Errorf("malformed sample %q", line)
			}
			labels, value = rest[:end+1], rest[end+1:]
		}
		if !containsAll(labels, match) {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			return 0, fmt.Errorf("malformed sample %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("malformed sample %q: %v", line, err)
		}
		sum += v
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return sum, nil
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
