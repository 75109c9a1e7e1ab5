// Command ppserver is the ppgo network node: pp clients send it jobs over
// TCP, and it runs them on its own Python worker processes. It takes the
// flags and config file of legacy Parallel Python's ppserver.py; the
// manual is docs/PPSERVER.md.
//
// Exit status: 0 after a clean stop (SIGTERM, SIGINT, -t idle exit, -h);
// 2 for a mistake on the command line or in the config file, including a
// secret the listen address does not allow; 1 when start-up or serving
// fails (port in use, no usable Python, pid file not writable, ...).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ppgo/ppgo/core/auth"
	"github.com/ppgo/ppgo/core/metrics"
	"github.com/ppgo/ppgo/core/pool"
	"github.com/ppgo/ppgo/core/serve"
	"github.com/ppgo/ppgo/core/wire"
	"github.com/ppgo/ppgo/python"
)

// version is set at build time: -ldflags "-X main.version=0.1.0".
var version = "devel"

const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	s, warnings, err := loadSettings(args, os.ReadFile, os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ppserver: %v\nRun 'ppserver -h' for help.\n", err)
		return exitUsage
	}
	if s.Help {
		fmt.Print(usage())
		return exitOK
	}
	if s.Version {
		fmt.Printf("ppserver %s (ppgo, %s %s/%s, standalone=%v)\n",
			version, runtime.Version(), runtime.GOOS, runtime.GOARCH, standalone)
		return exitOK
	}
	log, err := newLogger(s)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ppserver: -f: %v\n", err)
		return exitUsage
	}
	for _, w := range warnings {
		log.Warn(w)
	}
	// Signals are caught from here on, so one that arrives during start-up
	// stops the server as soon as it runs instead of killing it half-made.
	sigs := notifySignals()
	defer stopSignals(sigs)

	n, err := start(s, log)
	if err != nil {
		log.Error(err.Error())
		if errors.As(err, new(*UsageError)) {
			return exitUsage
		}
		return exitError
	}
	code := n.run(sigs)
	n.close()
	return code
}

func newLogger(s Settings) (*slog.Logger, error) {
	level := slog.LevelInfo
	switch {
	case s.Quiet:
		level = slog.LevelError
	case s.Debug:
		level = slog.LevelDebug
	}
	h, err := newPyHandler(os.Stderr, s.LogFormat, level)
	if err != nil {
		return nil, err
	}
	return slog.New(h), nil
}

// node is a started ppserver: its listener, worker pool, and what must be
// undone when it stops.
type node struct {
	s        Settings
	log      *slog.Logger
	srv      *serve.Server
	served   chan error // Serve's return
	python   *interpreter
	pidFile  bool
	discover *announcer
	metrics  *metrics.Listener
}

// start checks the settings, finds the worker Python, listens, writes the
// pid file and starts the workers. On error it has undone what it did.
func start(s Settings, log *slog.Logger) (_ *node, err error) {
	secret, err := auth.CheckListen(s.Secret, s.Interface)
	if err != nil {
		return nil, &UsageError{strings.TrimPrefix(err.Error(), "auth: ")}
	}
	if secret == auth.DefaultSecret {
		log.Warn("no secret given: using legacy pp's default secret, allowed on loopback only")
	} else if weak := auth.WeakSecret(secret); weak != "" {
		log.Warn(weak)
	}
	n := &node{s: s, log: log}
	defer func() {
		if err != nil {
			n.close()
		}
	}()

	// -k is kept within what heartbeats make sensible; legacy's one-hour
	// default comes down to wire.DefaultSilence.
	silence := wire.ClampSilence(s.SocketTimeout)
	log.Debug("settings", "config", s.Config, "interface", s.Interface, "port", s.Port,
		"workers", s.Workers, "restart", s.Restart, "proto", s.Proto, "python", s.Python,
		"idle_timeout", s.IdleTimeout, "silence", silence, "secret_file", s.SecretFile,
		"autodiscovery", s.Autodiscovery, "broadcast", s.Broadcast, "pid_file", s.PIDFile,
		"metrics", s.Metrics)
	dir, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("working directory: %w", err)
	}
	n.python, err = findInterpreter(context.Background(), s.Python, workerEnv(os.Environ()),
		func(format string, args ...any) { log.Debug(fmt.Sprintf(format, args...)) })
	if err != nil {
		return nil, err
	}
	if s.Proto > n.python.HighestProto {
		return nil, &UsageError{fmt.Sprintf("-n %d: Python %s speaks pickle protocols up to %d",
			s.Proto, n.python.Version, n.python.HighestProto)}
	}

	ln, err := listen(s.Interface, s.Port)
	if err != nil {
		return nil, err
	}
	// Written once the port is ours, so a second ppserver that fails to
	// start never touches the pid file of the one already running.
	if s.PIDFile != "" {
		if err := writePIDFile(s.PIDFile, os.Getpid()); err != nil {
			ln.Close()
			return nil, err
		}
		n.pidFile = true
	}
	// Stretch the secret now (Argon2id, tens of milliseconds), not in the
	// first client's handshake.
	began := time.Now()
	auth.PrepareServer([]byte(secret))
	log.Debug("secret stretched", "took", time.Since(began))
	n.srv, err = serve.New(serve.Config{
		Pool: pool.Config{
			Argv:    []string{n.python.Path, "-c", python.Worker, strconv.Itoa(s.Proto)},
			Env:     n.python.Env,
			Dir:     dir,
			Workers: s.Workers,
			Restart: s.Restart,
			Name:    "ppserver",
		},
		Secret:               secret,
		Limits:               wire.Limits{Silence: silence},
		MaxHandshakes:        s.MaxHandshakes,
		MaxHandshakesPerAddr: s.MaxHandshakesPerAddr,
		FailedHandshakeBurst: s.FailedHandshakeBurst,
		FailedHandshakeRate:  s.FailedHandshakeRate,
		WriteTimeout:         s.WriteTimeout,
		MaxQueuedBytes:       int64(s.MaxQueuedMiB) << 20,
		Logger:               log,
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	if s.Metrics != "" {
		if n.metrics, err = metrics.ServeNode(s.Metrics, n.srv, log); err != nil {
			ln.Close()
			return nil, err
		}
	}
	n.served = make(chan error, 1)
	go func() { n.served <- n.srv.Serve(ln) }()

	// "Listening on" comes last: scripts wait for it as the sign of a
	// server ready for clients.
	log.Info(fmt.Sprintf("Parallel Python Server (ppgo ppserver %s)", version))
	log.Info(fmt.Sprintf("Workers run Python %s: %s (%s)", n.python.Version, n.python.Path, n.python.From))
	if s.Autodiscovery {
		n.discover = startAnnouncer(s, secret, log)
	}
	if n.metrics != nil {
		log.Info(fmt.Sprintf("Metrics on http://%s/metrics, status page on http://%s/", n.metrics.Addr(), n.metrics.Addr()))
	}
	log.Info(fmt.Sprintf("Listening on %s with %d worker(s) (pid %d)",
		net.JoinHostPort(s.Interface, strconv.Itoa(s.Port)), s.Workers, os.Getpid()))
	return n, nil
}

// hiddenFromWorkers are the variables a job must not read: the node's
// secret, which would let the job's author (or anyone its output reaches)
// use this ppserver and every other node that shares it.
var hiddenFromWorkers = []string{"PP_SECRET", "PP_SECRET_FILE"}

// prestartVar at 0 in the workers' environment means a job that imports pp
// (ppgo's, where the node's Python has it) starts no spare workers of its
// own (python/pp/_prestart.py), as on a client's workers.
const prestartVar = "PPGO_PRESTART"

// workerEnv is the environment the workers get: ppserver's own, without
// the secret, and with no spares.
func workerEnv(env []string) []string {
	env = withoutVars(env, hiddenFromWorkers...)
	return append(withoutVars(env, prestartVar), prestartVar+"=0")
}

// listen opens the TCP listener, explaining the usual failure.
func listen(host string, port int) (net.Listener, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("port %d on %s is in use (another ppserver?)", port, host)
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// close stops whatever start started, in reverse order. The workers are
// gone when it returns.
func (n *node) close() {
	if n.discover != nil {
		n.discover.stop()
	}
	if n.metrics != nil {
		n.metrics.Close()
	}
	if n.srv != nil {
		n.srv.Close()
	}
	if n.python != nil {
		if err := n.python.Close(); err != nil {
			n.log.Warn("removing the embedded Python", "err", err)
		}
	}
	if n.pidFile {
		if err := removePIDFile(n.s.PIDFile, os.Getpid()); err != nil {
			n.log.Warn(err.Error())
		}
	}
}

// drainTimeout bounds a graceful stop: running jobs get this long to
// finish and send their results before the workers are killed.
const drainTimeout = 10 * time.Second
