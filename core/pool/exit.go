package pool

import (
	"fmt"
	"os"
	"syscall"
)

// signalNames spells the signals a worker is likely to die of the way users
// know them (Go's own names read "killed", "segmentation fault").
var signalNames = map[syscall.Signal]string{
	syscall.SIGABRT: "SIGABRT", syscall.SIGALRM: "SIGALRM", syscall.SIGBUS: "SIGBUS",
	syscall.SIGFPE: "SIGFPE", syscall.SIGHUP: "SIGHUP", syscall.SIGILL: "SIGILL",
	syscall.SIGINT: "SIGINT", syscall.SIGKILL: "SIGKILL", syscall.SIGPIPE: "SIGPIPE",
	syscall.SIGQUIT: "SIGQUIT", syscall.SIGSEGV: "SIGSEGV", syscall.SIGTERM: "SIGTERM",
	syscall.SIGUSR1: "SIGUSR1", syscall.SIGUSR2: "SIGUSR2", syscall.SIGXCPU: "SIGXCPU",
}

// describeExit says how a worker process ended, naming the signal or the
// exit code.
func describeExit(state *os.ProcessState) string {
	if state == nil {
		return "ended"
	}
	ws, ok := state.Sys().(syscall.WaitStatus)
	if !ok {
		return state.String()
	}
	if ws.Signaled() {
		sig := ws.Signal()
		name, known := signalNames[sig]
		if !known {
			name = fmt.Sprintf("signal %d", int(sig))
		}
		return fmt.Sprintf("killed by signal %s (%d)", name, int(sig))
	}
	return fmt.Sprintf("exited with code %d", ws.ExitStatus())
}
