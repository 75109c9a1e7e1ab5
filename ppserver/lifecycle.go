package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/ppgo/ppgo/core/discovery"
	"github.com/ppgo/ppgo/core/serve"
)

// notifySignals catches the signals ppserver acts on. SIGHUP stops it
// like SIGTERM (a closed terminal), unless it was started ignoring SIGHUP
// (nohup), which it then keeps doing.
func notifySignals() chan os.Signal {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	if !signal.Ignored(syscall.SIGHUP) {
		signal.Notify(sigs, syscall.SIGHUP)
	}
	return sigs
}

func stopSignals(sigs chan os.Signal) { signal.Stop(sigs) }

// run serves until a signal, the idle timeout or a fatal error ends it,
// and returns the exit status.
func (n *node) run(sigs <-chan os.Signal) int {
	var idle <-chan time.Time
	if n.s.IdleTimeout > 0 {
		t := time.NewTicker(min(n.s.IdleTimeout/4, time.Second))
		defer t.Stop()
		idle = t.C
	}
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGUSR1 {
				printStats(os.Stdout, n.srv.Stats())
				continue
			}
			n.log.Info(fmt.Sprintf("received %s: stopping once running jobs finish (at most %v)",
				signalName(sig), drainTimeout))
			return n.shutdown(sigs)
		case <-idle:
			st := n.srv.Stats()
			if st.Clients == 0 && !st.IdleSince.IsZero() && time.Since(st.IdleSince) >= n.s.IdleTimeout {
				n.log.Info(fmt.Sprintf("no client connected for %v: exiting", n.s.IdleTimeout))
				return n.shutdown(sigs)
			}
		case err := <-n.served:
			// Serve returns on its own only when accepting fails for good.
			n.log.Error(fmt.Sprintf("serving stopped: %v", err))
			return exitError
		}
	}
}

// shutdown drains the server: no new clients or jobs, running jobs finish
// and send their results, for at most drainTimeout or until a second
// stop signal.
func (n *node) shutdown(sigs <-chan os.Signal) int {
	if n.discover != nil {
		// Stop inviting clients before turning them away.
		n.discover.stop()
		n.discover = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- n.srv.Shutdown(ctx) }()
	for {
		select {
		case err := <-done:
			if err != nil {
				n.log.Warn(fmt.Sprintf("stopped without waiting any longer: %v", err))
			}
			<-n.served // returns once Shutdown has closed the listener
			return exitOK
		case sig := <-sigs:
			if sig == syscall.SIGUSR1 {
				printStats(os.Stdout, n.srv.Stats())
				continue
			}
			n.log.Warn(fmt.Sprintf("received %s again: stopping now", signalName(sig)))
			cancel()
		}
	}
}

func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return sig.String()
}

// printStats writes the statistics SIGUSR1 asks for, laid out like legacy
// pp's print_stats, to w in one write.
func printStats(w io.Writer, st serve.Stats) {
	var b strings.Builder
	b.WriteString("Job execution statistics:\n")
	b.WriteString(" job count | % of all jobs | job time sum | time per job | job server\n")
	if st.Jobs > 0 {
		busy := st.Busy.Seconds()
		fmt.Fprintf(&b, "    %6d |        %6.2f |     %8.4f |  %11.6f | %s\n",
			st.Jobs, 100.0, busy, busy/float64(st.Jobs), "local")
	}
	fmt.Fprintf(&b, "Time elapsed since server creation %.3f\n", time.Since(st.Started).Seconds())
	fmt.Fprintf(&b, "%d active tasks, %d cores\n", st.Running, st.Workers)
	fmt.Fprintf(&b, "%d client(s) connected, %d failed authentication(s), %d refused unheard, %d slow consumer(s) dropped\n",
		st.Clients, st.AuthFailures, st.Refused, st.SlowConsumers)
	fmt.Fprintf(&b, "%d job(s) timed out, %d cancelled by their clients before they ran\n", st.TimedOut, st.Cancelled)
	// For leak checks: a node that served a client and lost it should be
	// back to the goroutines it had before.
	fmt.Fprintf(&b, "goroutines: %d\n\n", runtime.NumGoroutine())
	io.WriteString(w, b.String())
}

// announcer runs autodiscovery beside the server.
type announcer struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startAnnouncer answers and sends autodiscovery broadcasts until stopped,
// signed under secret, the one clients connect with (the legacy default
// when the node has none: its clients verify with that default too).
// A failure, such as the UDP port being taken, is logged as an error but
// does not stop the server: clients that name it still reach it.
func startAnnouncer(s Settings, secret string, log *slog.Logger) *announcer {
	ctx, cancel := context.WithCancel(context.Background())
	a := &announcer{cancel: cancel, done: make(chan struct{})}
	log.Info(fmt.Sprintf("Auto-discovery enabled on %s:%d", s.Broadcast, s.Port))
	go func() {
		defer close(a.done)
		err := discovery.Announce(ctx, discovery.AnnounceConfig{
			Interface: s.Interface,
			Port:      s.Port,
			Broadcast: s.Broadcast,
			Secret:    secret,
			Logger:    log,
		})
		if err != nil {
			log.Error(fmt.Sprintf("autodiscovery is off: %v", err))
		}
	}()
	return a
}

func (a *announcer) stop() {
	a.cancel()
	<-a.done
}
