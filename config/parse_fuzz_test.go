package config

import (
	"testing"

	"github.com/incidentd/incidentd/internal/fuzzseed"
)

func FuzzParse(f *testing.F) {
	for _, data := range fuzzseed.Files(f, "configs/incidentd.yml") {
		f.Add(data)
	}
	for _, s := range fuzzseed.DocBlocks(f, "yaml") {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		"", "storage: {dsn: mysql://x}\n", "ingest: {max_body_bytes: 1PB}\n", "a: &a [*a]\n",
		"storage: &s {dsn: *s}\n", "log: {level: \"\\xff\"}\n", "---\n---\n", "[1, 2]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yml", data)
		if err != nil {
			fuzzseed.CheckErrors(t, err, "fuzz.yml")
			return
		}
		// What the daemon derives from an accepted config never panics.
		cfg.Policy()
		cfg.CIRuleTemplates()
	})
}
