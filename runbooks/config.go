package runbooks

import (
	"fmt"
	"path"

	"github.com/incidentd/incidentd/strictyaml"
)

// Config is the `runbooks` section of incidentd's configuration.
type Config struct {
	// Files are globs of runbook files, relative to the config file.
	Files []string `yaml:"files"`
	// SecretsDir holds one file per secret, named as the secret; secrets
	// are looked up in the environment (INCIDENTD_SECRET_<NAME>) first.
	SecretsDir string     `yaml:"secrets_dir"`
	Exec       ExecConfig `yaml:"exec"`
	// MaxOutputBytes caps what a step keeps of a response body or of a
	// command's stdout and stderr (each).
	MaxOutputBytes strictyaml.ByteSize `yaml:"max_output_bytes"`
}

// ExecConfig allowlists the programs exec steps may run.
type ExecConfig struct {
	// Allow holds absolute paths or path.Match globs (/usr/local/bin/*).
	// Empty: exec steps are off.
	Allow []string `yaml:"allow"`
}

// DefaultConfig returns the section's defaults: no runbooks, exec off.
func DefaultConfig() Config {
	return Config{MaxOutputBytes: 64 << 10}
}

// Validate reports every semantic error of the section, which sits at path
// (e.g. "runbooks") of the document d decoded.
func (c *Config) Validate(d *strictyaml.Decoder, key string) {
	for i, f := range c.Files {
		if _, err := path.Match(f, ""); err != nil || f == "" {
			d.Failf(fmt.Sprintf("%s[%d]", strictyaml.Join(key, "files"), i), "invalid glob %q", f)
		}
	}
	for i, p := range c.Exec.Allow {
		k := fmt.Sprintf("%s[%d]", strictyaml.Join(key, "exec.allow"), i)
		if _, err := path.Match(p, ""); err != nil {
			d.Failf(k, "invalid glob %q", p)
		} else if !path.IsAbs(p) {
			d.Failf(k, "%q: want an absolute path or glob, e.g. /usr/bin/kubectl", p)
		}
	}
	if c.MaxOutputBytes < 1024 {
		d.Failf(strictyaml.Join(key, "max_output_bytes"), "must be at least 1KiB")
	}
}

// Allowed reports whether the program at the absolute path resolved (the
// engine resolves exec.command[0] through PATH first) may run.
func (e ExecConfig) Allowed(resolved string) bool {
	if !path.IsAbs(resolved) {
		return false
	}
	clean := path.Clean(resolved)
	for _, p := range e.Allow {
		if ok, _ := path.Match(p, clean); ok {
			return true
		}
	}
	return false
}
