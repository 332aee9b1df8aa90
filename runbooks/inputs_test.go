package runbooks

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestResolveInputs(t *testing.T) {
	rb, err := Parse("t.yml", []byte(`name: cleanup
triggers: [{manual: true}]
inputs:
  - {name: host, required: true, description: where}
  - {name: days, type: int, default: "7"}
  - {name: force, type: bool}
  - {name: older_than, type: duration, default: 2d}
steps: [{annotate: x}]
`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		given map[string]any
		want  map[string]any
		err   string
	}{
		{"defaults fill the rest", map[string]any{"host": "db-1"},
			map[string]any{"host": "db-1", "days": 7, "force": false, "older_than": 48 * time.Hour}, ""},
		{"text is parsed by type", map[string]any{"host": "db-1", "days": " 30", "force": "true", "older_than": "90m"},
			map[string]any{"host": "db-1", "days": 30, "force": true, "older_than": 90 * time.Minute}, ""},
		{"JSON values", map[string]any{"host": "db-1", "days": float64(3), "force": true},
			map[string]any{"host": "db-1", "days": 3, "force": true, "older_than": 48 * time.Hour}, ""},
		{"a string input keeps text as is", map[string]any{"host": " $(id); x "},
			map[string]any{"host": " $(id); x ", "days": 7, "force": false, "older_than": 48 * time.Hour}, ""},
		{"required missing", map[string]any{}, nil, "input host is required"},
		{"unknown input", map[string]any{"host": "a", "hsot": "b"}, nil, `unknown input "hsot"`},
		{"bad int", map[string]any{"host": "a", "days": "many"}, nil, `input days: "many" is not an integer`},
		{"fractional JSON int", map[string]any{"host": "a", "days": 1.5}, nil, "input days: 1.5 (float64) is not a int"},
		{"bad bool", map[string]any{"host": "a", "force": "yes please"}, nil, `input force: "yes please" is not true or false`},
		{"bad duration", map[string]any{"host": "a", "older_than": "-1h"}, nil, `input older_than: "-1h" is not a positive duration`},
		{"bool for a string", map[string]any{"host": true}, nil, "input host: true (bool) is not a string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := rb.ResolveInputs(c.given)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %v, %v; want error %q", got, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %#v, want %#v", got, c.want)
			}
		})
	}
	if !rb.Manual() || rb.Inputs[0].Description != "where" || !rb.Inputs[0].Required {
		t.Errorf("model: %+v", rb.Inputs[0])
	}
}
