//go:build !linux

package e2e

import "os/exec"

// setDeathSignal does nothing here: only Linux has a parent-death signal.
// t.Cleanup still stops every process when the test ends normally.
func setDeathSignal(cmd *exec.Cmd) {}
