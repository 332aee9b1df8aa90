package e2e

import (
	"os/exec"
	"syscall"
)

// setDeathSignal has the kernel SIGKILL the child when the test process dies
// without running its cleanups (go test -timeout panics, or the test binary
// is killed), so no daemon outlives the test.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
