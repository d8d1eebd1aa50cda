//go:build unix && !linux

package pgtest

import (
	"os/exec"
	"syscall"
)

// sysProcAttr runs a child as cred (nil: the current user). Without Linux's
// parent-death signal a server can outlive a test binary that is killed.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred}
}

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }
