// Package metrics serves what a client or a ppserver is doing over HTTP:
// Prometheus metrics at /metrics, a live status page at /, the JSON it
// polls at /status.json, and /healthz for probes. Nothing is counted here:
// the collectors read the counters the core keeps anyway (core/sched,
// core/serve, core/remote, core/wire) when Prometheus scrapes, so the hot
// paths pay nothing for a listener nobody reads. Each listener has its own
// registry, never the global one, so two pp.Servers in one process do not
// mix.
package metrics

import (
	"context"
	_ "embed" // the status page
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The HTTP server's limits. Only GETs of small documents come in, so a
// client that takes longer than this to send its headers is stuck or
// hostile; a scrape of a client with hundreds of nodes still writes in
// well under writeTimeout.
const (
	readHeaderTimeout = 5 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = time.Minute
	closeTimeout      = time.Second // how long Close lets requests in progress finish
)

// healthyBody is what /healthz answers while the source takes work.
const healthyBody = "ok\n"

// indexHTML is the status page: one file, its script and styles inline,
// so that nothing is fetched from anywhere but this listener.
//
//go:embed page/index.html
var indexHTML []byte

// pagePolicy lets the page run its inline script and styles and fetch
// from this listener, and nothing else: a browser enforces that the page
// is self-contained.
const pagePolicy = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'"

// source is one side's view: its Prometheus collector, the status the
// page shows, with the count of finished jobs the rate history samples,
// and its health: nil while it takes work, else why not.
type source interface {
	prometheus.Collector
	status() any
	finished() uint64
	health() error
}

// Listener is a running metrics and status HTTP server.
type Listener struct {
	srv     *http.Server
	addr    net.Addr
	history *history
	served  chan struct{} // closed when Serve returns
	once    sync.Once
}

// ParseAddr checks a listen address given by a user: "HOST:PORT" or
// ":PORT" (every interface), PORT a number from 0 (any free port) to 65535.
func ParseAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("metrics address %q: want HOST:PORT or :PORT (port 0 picks a free one)", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("metrics address %q: port %q is not a number from 0 to 65535", addr, port)
	}
	return net.JoinHostPort(host, port), nil
}

// listen listens on addr and serves src until Close.
func listen(addr string, src source, log *slog.Logger) (*Listener, error) {
	addr, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(src,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	l := &Listener{addr: ln.Addr(), history: startHistory(src.finished), served: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}))
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		body := struct {
			Status  any       `json:"status"`
			Rate    []float64 `json:"rate"`    // jobs finished per second, oldest first
			Seconds float64   `json:"seconds"` // between two of rate's samples
			Span    float64   `json:"span"`    // the most seconds rate covers
		}{src.status(), l.history.rates(), historyStep.Seconds(), historyLength.Seconds()}
		if err := json.NewEncoder(w).Encode(body); err != nil {
			log.Debug("status.json not sent", "err", err)
		}
	})
	// /healthz is for probes (Kubernetes', a load balancer's): 200 "ok"
	// while the source takes work, 503 and the one-line reason while it
	// does not. It gathers no metrics, so probing often costs nothing.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if err := src.health(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, healthyBody)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", pagePolicy)
		w.Write(indexHTML)
	})
	l.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(l.served)
		if err := l.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics listener stopped", "err", err)
		}
	}()
	return l, nil
}

// Addr is the address the listener is bound to: with port 0 asked for,
// the port it got.
func (l *Listener) Addr() string { return l.addr.String() }

// Close stops the listener, letting requests in progress finish for a
// moment, and the rate history. It may be called more than once.
func (l *Listener) Close() {
	l.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := l.srv.Shutdown(ctx); err != nil {
			l.srv.Close()
		}
		<-l.served
		l.history.stop()
	})
}
