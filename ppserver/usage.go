package main

import (
	"fmt"

	"github.com/ppgo/ppgo/core/serve"
	"github.com/ppgo/ppgo/core/wire"
)

// usage is the -h text, laid out like legacy ppserver's.
func usage() string {
	build := ""
	if standalone {
		build = ", standalone build with an embedded Python"
	}
	return fmt.Sprintf(`Parallel Python Server (ppgo ppserver %s%s)

Usage: ppserver [options]

Runs jobs for pp clients on this machine: pp.Server(ppservers=("host:port",)).

Options:
  -h, --help       show this help message and exit
  --version        print the version and exit
  -d               set the log level to debug
  -q               quiet: log errors only, no start-up banner
  -f FORMAT        log format, Python logging style
                   (default %q)
  -a               enable autodiscovery: announce this server by UDP broadcast
  -r               restart the worker process after each job
  -n PROTO         pickle protocol of job results (default %d)
  -c CONFIG        read options from an INI config file ([general] and
                   [network] sections; flags given here override it)
  -i INTERFACE     address to listen on, IPv4, IPv6 or a host name (default %s,
                   every IPv4 interface; -i :: is every IPv6 and IPv4 one)
  -b BROADCAST     broadcast address for autodiscovery (default %s)
  -p PORT          TCP port to listen on (default %d)
  -w NWORKERS      number of worker processes (default: the number of CPUs)
  -s SECRET        secret clients must know (default: $PP_SECRET); other
                   users see it in ps: prefer --secret-file
  --secret-file PATH
                   read the secret from this file (default: $PP_SECRET_FILE)
  -t SECONDS       exit once no client has been connected for this long
  -k SECONDS       socket timeout: a silent client is dropped after this long,
                   kept within %g to %g s as clients heartbeat (default %g)
  -P PIDFILE       write the server's PID to this file, remove it on exit
  --python PATH    Python for the workers (default: %s)
  --metrics ADDR   serve Prometheus metrics (/metrics), a live status page
                   (/) and a health check for probes (/healthz) over HTTP on
                   ADDR, HOST:PORT or :PORT (port 0: any free one; the log
                   says which)

Limits (docs/PPSERVER.md says why each default is what it is):
  --max-handshakes N
                   connections still in their handshake, in all (default %d,
                   or a quarter of the file descriptor limit if less); more
                   are closed unheard
  --max-handshakes-per-address N
                   the same, from one address (default %d)
  --failed-handshake-burst N, --failed-handshake-rate PER_SECOND
                   failed handshakes one address may have at once, then per
                   second (default %d, then %g); beyond, its connections are
                   closed unheard
  --write-timeout SECONDS
                   drop a client that takes none of its results for this
                   long (default %g)
  --max-queued-mb MIB
                   drop a client whose results waiting to be sent stay over
                   this for --write-timeout (default %d)

Send SIGUSR1 to print statistics; SIGTERM or SIGINT to stop after running
jobs finish (a second one stops at once).

Security: a ppserver runs whatever code its clients send. Without a secret
(-s or --secret-file, the config file, PP_SECRET or PP_SECRET_FILE, in this
order), or with legacy pp's default one, it starts only on loopback
(-i 127.0.0.1 or -i ::1) and refuses any other interface. The workers' jobs
see neither PP_SECRET nor PP_SECRET_FILE.
`, version, build, defaultLogFormat, defaultProto, defaultInterface, defaultBroadcast,
		defaultSettings().Port, wire.MinSilence.Seconds(), wire.DefaultSilence.Seconds(), defaultSocketTimeout.Seconds(), defaultPythonHelp(),
		serve.DefaultMaxHandshakes, serve.DefaultMaxHandshakesPerAddr, serve.DefaultFailedHandshakeBurst,
		serve.DefaultFailedHandshakeRate, serve.DefaultWriteTimeout.Seconds(), serve.DefaultMaxQueuedBytes>>20)
}

func defaultPythonHelp() string {
	if standalone {
		return "the embedded one"
	}
	return "python3 beside ppserver, else on PATH"
}
