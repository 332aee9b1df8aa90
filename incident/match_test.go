package incident

import "testing"

func TestMatchersOverSubject(t *testing.T) {
	sub := Subject{
		Labels:   map[string]string{"team": "label-team", "alertname": "PostgresDown", "ci": "from-label"},
		Priority: 2, CI: "payments-db", CIClass: "database", Team: "team-db",
	}
	tests := []struct {
		match string
		want  bool
	}{
		{``, true},
		{`{}`, true},
		{`{alertname="PostgresDown"}`, true},
		{`{priority=~"P1|P2"}`, true},
		{`{priority="P1"}`, false},
		{`{ci="payments-db", ci_class="database"}`, true}, // the CMDB wins over labels
		{`{ci="from-label"}`, false},
		{`{team="team-db"}`, true},
		{`{missing=""}`, true}, // a missing label is empty, as in Alertmanager
		{`{missing!=""}`, false},
	}
	for _, tt := range tests {
		m, err := ParseMatchers(tt.match)
		if err != nil {
			t.Fatalf("%s: %v", tt.match, err)
		}
		if got := m.MatchesSubject(sub); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.match, got, tt.want)
		}
	}
	for _, bad := range []string{`{team="shop"`, `{a=~"("}`, `team`} {
		if _, err := ParseMatchers(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
