package cluster

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill the worker when the driver dies.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
