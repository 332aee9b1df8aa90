package strictyaml

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// laughs is a small document whose aliases expand to 10^levels nodes.
func laughs(levels int) string {
	var b strings.Builder
	b.WriteString("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < levels; i++ {
		prev := "*l" + string(rune('0'+i-1))
		b.WriteString("l" + string(rune('0'+i)) + ": &l" + string(rune('0'+i)) + " [" + strings.Repeat(prev+", ", 9) + prev + "]\n")
	}
	return b.String()
}

func TestCheckAliases(t *testing.T) {
	tests := []struct {
		name, doc string
		wantErr   string
	}{
		{"no aliases", "a: [1, 2]\nb: {c: d}\n", ""},
		{"shared anchor", "base: &b {x: 1}\none: *b\ntwo: *b\n", ""},
		{"moderate expansion", laughs(4), ""},
		{"alias bomb", laughs(9), "expand the document"},
		{"cycle in a list", "a: &a [*a]\n", "contains it"},
		{"cycle in a mapping", "a: &a {b: {c: *a}}\n", "contains it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n yaml.Node
			if err := yaml.Unmarshal([]byte(tt.doc), &n); err != nil {
				t.Fatal(err)
			}
			e := CheckAliases(&n)
			switch {
			case tt.wantErr == "" && e != nil:
				t.Fatalf("rejected: %v", e)
			case tt.wantErr != "" && (e == nil || !strings.Contains(e.Msg, tt.wantErr) || e.Line == 0):
				t.Fatalf("got %v, want an error with a line saying %q", e, tt.wantErr)
			}
			// Decode reports it as its only error instead of hanging.
			var out struct{}
			d := NewDecoder()
			d.Decode(&n, &out)
			if tt.wantErr != "" && (len(d.Errs()) != 1 || !strings.Contains(d.Errs()[0].Msg, tt.wantErr)) {
				t.Fatalf("Decode errors %v, want only %q", d.Errs(), tt.wantErr)
			}
		})
	}
}
