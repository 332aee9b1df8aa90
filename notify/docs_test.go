package notify

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/internal/mdcode"
)

// docBlocks returns the Notifiers section's examples of docs/escalation.md
// by info string.
func docBlocks(t *testing.T) map[string][]mdcode.Block {
	t.Helper()
	blocks, err := mdcode.Blocks("../docs/escalation.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]mdcode.Block{}
	for _, b := range blocks {
		out[b.Info] = append(out[b.Info], b)
	}
	return out
}

func TestDocsConfigExamplesAreValid(t *testing.T) {
	blocks := docBlocks(t)["yaml notifiers"]
	if len(blocks) == 0 {
		t.Fatal("no yaml notifiers example in docs/escalation.md")
	}
	types := map[string]bool{}
	for _, b := range blocks {
		cfg, err := parse(t, b.Text)
		if err != nil {
			t.Errorf("escalation.md:%d: %v", b.Line, err)
			continue
		}
		// Every secret resolves to something that would do for any key.
		resolve := func(name string) (string, error) { return "https://resolved.example.com/" + name, nil }
		if _, err := New(cfg, Options{Secrets: resolve}); err != nil {
			t.Errorf("escalation.md:%d: New: %v", b.Line, err)
		}
		for _, n := range cfg {
			types[n.Type] = true
		}
	}
	for _, typ := range []string{TypePagerDuty, TypeWebhook, TypeSlack, TypeEmail} {
		if !types[typ] {
			t.Errorf("the examples show no %s notifier", typ)
		}
	}
}

func TestDocsBadConfigGivesTheDocumentedErrors(t *testing.T) {
	blocks := docBlocks(t)
	bad, want := blocks["yaml notifiers-bad.yml"], blocks["text notifiers-errors"]
	if len(bad) != 1 || len(want) != 1 {
		t.Fatal("the bad config example or its errors are missing")
	}
	_, err := parse(t, bad[0].Text)
	got := ""
	if err != nil {
		got = strings.ReplaceAll(err.Error(), "test.yml", "notifiers-bad.yml")
	}
	if got != strings.TrimSpace(want[0].Text) {
		t.Errorf("documented errors:\n%s\ngot:\n%s", want[0].Text, got)
	}
}

func TestDocsWebhookBodyIsWhatIsSent(t *testing.T) {
	blocks := docBlocks(t)["json webhook"]
	if len(blocks) != 1 {
		t.Fatal("no json webhook example")
	}
	got, _ := json.Marshal(NewWebhookPayload("ops-webhook", message()))
	jsonEqual(t, got, blocks[0].Text)
}

// TestDocsShellVerification runs the documented shell check of a webhook
// signature on a body the notifier signed, and on a tampered copy.
func TestDocsShellVerification(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	blocks := docBlocks(t)["sh verify-webhook"]
	if len(blocks) != 1 {
		t.Fatal("no sh verify-webhook example")
	}
	body, _ := json.Marshal(NewWebhookPayload("ops-webhook", message()))
	secret := "s3cr3t-hmac-key"
	// The script compares with the wall clock, so sign with it.
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig := Sign([]byte(secret), ts, body)
	for _, tc := range []struct {
		name  string
		body  []byte
		valid bool
	}{
		{"as sent", body, true},
		{"tampered", []byte(strings.Replace(string(body), "P1", "P5", 1)), false},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "body.json"), tc.body, 0o600)
		cmd := exec.Command("sh", "-c", blocks[0].Text)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SECRET="+secret, "TS="+ts, "SIG="+sig)
		out, err := cmd.CombinedOutput()
		valid := err == nil && strings.TrimSpace(string(out)) == "valid"
		if valid != tc.valid {
			t.Errorf("%s: script says %q (%v), want valid=%v", tc.name, out, err, tc.valid)
		}
	}
}
