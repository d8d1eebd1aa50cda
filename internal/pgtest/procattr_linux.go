package pgtest

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// sysProcAttr runs a child as cred (nil: the current user) and has the kernel
// send it SIGQUIT, PostgreSQL's immediate shutdown, if the test binary dies
// first, so that no server outlives its tests. Go applies the credential before
// the death signal, which a credential change would otherwise reset.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
}

// The parent-death signal fires when the thread that started the child exits,
// not the process. Go keeps its threads alive except one whose locked goroutine
// returns, so children are started from a goroutine locked to its thread that
// never returns.
var spawnRequests = make(chan spawnRequest)

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

var spawnOnce sync.Once

func startCmd(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread()
			for r := range spawnRequests {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnRequests <- spawnRequest{cmd, done}
	return <-done
}
