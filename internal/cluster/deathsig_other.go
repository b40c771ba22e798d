//go:build !linux

package cluster

import "os/exec"

// setDeathSignal does nothing here: workers still exit when their session
// with the driver breaks.
func setDeathSignal(*exec.Cmd) {}
