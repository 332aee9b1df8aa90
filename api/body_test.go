package api

import "testing"

func TestHasNULEscape(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{`{"a":"b"}`, false},
		{`{"a":"\u0000"}`, true},
		{`{"a":"x\u0000"}`, true},
		{`{"a":"\\u0000"}`, false}, // a backslash, then the text u0000
		{`{"a":"\\\u0000"}`, true}, // a backslash, then NUL
		{`{"a":"\\u0000\u0000"}`, true},
		{`{"a":"\u00001"}`, true},
		{`{"a":"\u0001"}`, false},
	}
	for _, tt := range tests {
		if got := hasNULEscape([]byte(tt.body)); got != tt.want {
			t.Errorf("hasNULEscape(%s) = %v, want %v", tt.body, got, tt.want)
		}
	}
}
