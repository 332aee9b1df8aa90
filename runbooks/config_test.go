package runbooks

import (
	"strings"
	"testing"

	"github.com/incidentd/incidentd/strictyaml"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		yaml string
		want string // "" when valid
	}{
		{"runbooks:\n  files: [runbooks/*.yml]\n  exec:\n    allow: [/usr/bin/kubectl, /usr/local/sbin/*]\n", ""},
		{"runbooks:\n  files: ['[bad']\n", `t.yml:2: runbooks.files[0]: invalid glob "[bad"`},
		{"runbooks:\n  exec:\n    allow: [kubectl]\n", `t.yml:3: runbooks.exec.allow[0]: "kubectl": want an absolute path or glob, e.g. /usr/bin/kubectl`},
		{"runbooks:\n  max_output_bytes: 10\n", "t.yml:2: runbooks.max_output_bytes: must be at least 1KiB"},
		{"runbooks:\n  exec: {alow: []}\n", "t.yml:2: runbooks.exec.alow: unknown key (known keys: allow)"},
	}
	for _, c := range cases {
		var doc struct {
			Runbooks Config `yaml:"runbooks"`
		}
		doc.Runbooks = DefaultConfig()
		d, err := strictyaml.Parse("t.yml", []byte(c.yaml), &doc)
		if err != nil {
			t.Fatal(err)
		}
		doc.Runbooks.Validate(d, "runbooks")
		err = d.Err("t.yml")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.yaml, err)
		case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)):
			t.Errorf("%s: got %v, want %s", c.yaml, err, c.want)
		}
	}
}

func TestExecAllowed(t *testing.T) {
	e := ExecConfig{Allow: []string{"/usr/bin/kubectl", "/usr/local/sbin/incidentd-*"}}
	for path, want := range map[string]bool{
		"/usr/bin/kubectl":                               true,
		"/usr/local/sbin/incidentd-cleanup-logs":         true,
		"/usr/local/sbin/other":                          false,
		"/usr/bin/../bin/kubectl":                        true, // cleaned first
		"/usr/local/sbin/incidentd-x/../../../../bin/sh": false,
		"kubectl":           false, // not resolved
		"/usr/bin/kubectl2": false,
	} {
		if got := e.Allowed(path); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", path, got, want)
		}
	}
	if (ExecConfig{}).Allowed("/usr/bin/true") {
		t.Error("an empty allowlist allows nothing")
	}
}
