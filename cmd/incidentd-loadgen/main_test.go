package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestRunRefusesBadArguments: nothing is sent when the flags are wrong or
// the target is off this machine.
func TestRunRefusesBadArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--target", "http://10.1.2.3:9797"}, "--allow-remote"},
		{[]string{"--format", "xml"}, "want alertmanager, generic or am-api-v2"},
		{[]string{"--repeat-ratio", "1.5"}, "0..1"},
		{[]string{"--storm", "--cmdb", "../../configs/cmdb.yml", "--storm-ci", "nope"}, `no CI "nope"`},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), tc.args, &out)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want an error with %q", tc.args, err, tc.want)
		}
		if out.Len() > 0 {
			t.Errorf("run(%q) printed %q", tc.args, out.String())
		}
	}
}
