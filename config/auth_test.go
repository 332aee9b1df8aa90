package config

import (
	"strings"
	"testing"
)

func TestAPIConfig(t *testing.T) {
	cfg, err := Parse("x.yml", []byte("api:\n  tokens:\n    - {name: alice, role: responder, token: '${secret:alice_api_token}'}\n  metrics_auth: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tok := cfg.API.Tokens[0]; tok.Name != "alice" || tok.Role != "responder" || tok.SecretName() != "alice_api_token" || !cfg.API.MetricsAuth {
		t.Errorf("parsed %+v", cfg.API)
	}
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"bad role", "api:\n  tokens:\n    - {name: a, role: root, token: '${secret:a}'}\n", []string{`x.yml:3: api.tokens[0].role: "root" is not one of viewer, responder, admin`}},
		{"no role, block style", "api:\n  tokens:\n    - name: a\n      token: '${secret:a}'\n    - name: b\n      role: boss\n      token: '${secret:b}'\n", []string{`x.yml:3: api.tokens[0].role: "" is not one of`, `x.yml:6: api.tokens[1].role: "boss"`}},
		{"token in the file", "api:\n  tokens:\n    - name: a\n      role: viewer\n      token: hunter2hunter2hunter2\n", []string{"x.yml:5: api.tokens[0].token: write ${secret:NAME}"}},
		{"secret reference inside text", "api:\n  tokens:\n    - {name: a, role: viewer, token: 'Bearer ${secret:a}'}\n", []string{"x.yml:3: api.tokens[0].token: write ${secret:NAME}"}},
		{"no token", "api:\n  tokens:\n    - {name: a, role: viewer}\n", []string{"x.yml:3: api.tokens[0].token: required"}},
		{"bad name", "api:\n  tokens:\n    - {name: 'a b', role: viewer, token: '${secret:a}'}\n", []string{`x.yml:3: api.tokens[0].name: "a b"`}},
		{"same name", "api:\n  tokens:\n    - {name: a, role: viewer, token: '${secret:a}'}\n    - {name: a, role: admin, token: '${secret:b}'}\n", []string{`x.yml:4: api.tokens[1].name: "a" is used by another token`}},
		{"same secret", "api:\n  tokens:\n    - {name: a, role: viewer, token: '${secret:s}'}\n    - {name: b, role: admin, token: '${secret:s}'}\n", []string{`x.yml:4: api.tokens[1].token: secret "s" is also the token of "a"`}},
		{"unknown key", "api:\n  token: x\n", []string{"x.yml:2: api.token: unknown key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the token: %v", err)
			}
		})
	}
}
