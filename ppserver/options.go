package main

import (
	"fmt"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ppgo/ppgo/core/metrics"
	"github.com/ppgo/ppgo/core/wire"
)

// Settings is everything the command line and the config file decide.
type Settings struct {
	Help, Version bool

	Debug     bool
	Quiet     bool
	LogFormat string

	Autodiscovery bool
	Interface     string
	Broadcast     string
	Port          int

	Workers    int
	Restart    bool
	Proto      int
	Secret     string // "" until resolved: -s or --secret-file, config, then PP_SECRET, PP_SECRET_FILE
	SecretFile string // where Secret was read from, if from a file
	Python     string // --python or [general] python; "" means look for one

	IdleTimeout   time.Duration // -t; 0 means never exit for idleness
	SocketTimeout time.Duration // -k
	PIDFile       string
	Config        string

	// The node's limits (serve.Config); 0 means serve's default.
	MaxHandshakes        int
	MaxHandshakesPerAddr int
	FailedHandshakeBurst int
	FailedHandshakeRate  float64 // per second
	WriteTimeout         time.Duration
	MaxQueuedMiB         int

	// Metrics is where Prometheus metrics and the status page are served
	// ("HOST:PORT"); "" serves none.
	Metrics string
}

// Legacy ppserver's defaults.
const (
	defaultInterface     = "0.0.0.0"
	defaultBroadcast     = "255.255.255.255"
	defaultProto         = 4
	defaultSocketTimeout = 3600 * time.Second
	defaultLogFormat     = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
	maxProto             = 5 // pickle.HIGHEST_PROTOCOL of every Python we run
)

// defaultSettings are the values before the config file and the flags.
func defaultSettings() Settings {
	return Settings{
		LogFormat:     defaultLogFormat,
		Interface:     defaultInterface,
		Broadcast:     defaultBroadcast,
		Port:          wire.DefaultPort,
		Workers:       runtime.NumCPU(),
		Proto:         defaultProto,
		SocketTimeout: defaultSocketTimeout,
	}
}

// UsageError is a mistake on the command line or in the config file:
// ppserver exits with status 2 and points at -h.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &UsageError{fmt.Sprintf(format, args...)}
}

// option is one setting: its command-line flag, its config file key, and
// how a value is stored. Flags and config keys share set, so the same
// value means the same thing in both places.
type option struct {
	flag    string // "p" for -p, "python" for --python; "" for config only
	section string // config file section; "" for command line only
	key     string
	arg     string // the argument's name in help; "" for a switch
	set     func(s *Settings, v string) error
}

func boolOption(field func(*Settings) *bool) func(*Settings, string) error {
	return func(s *Settings, v string) error {
		b, err := parseBool(v)
		if err != nil {
			return err
		}
		*field(s) = b
		return nil
	}
}

func stringOption(field func(*Settings) *string) func(*Settings, string) error {
	return func(s *Settings, v string) error {
		*field(s) = v
		return nil
	}
}

// countOption reads a whole number of at least 1.
func countOption(field func(*Settings) *int) func(*Settings, string) error {
	return func(s *Settings, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("expected a whole number of at least 1, not %q", v)
		}
		*field(s) = n
		return nil
	}
}

// options lists every flag and config key, in the order of legacy help.
var options = []option{
	{flag: "h", arg: "", set: boolOption(func(s *Settings) *bool { return &s.Help })},
	{flag: "help", set: boolOption(func(s *Settings) *bool { return &s.Help })},
	{flag: "version", set: boolOption(func(s *Settings) *bool { return &s.Version })},
	{flag: "d", section: "general", key: "debug", set: boolOption(func(s *Settings) *bool { return &s.Debug })},
	{flag: "q", section: "general", key: "quiet", set: boolOption(func(s *Settings) *bool { return &s.Quiet })},
	{flag: "f", arg: "FORMAT", set: func(s *Settings, v string) error {
		if _, err := parseLogFormat(v); err != nil {
			return err
		}
		s.LogFormat = v
		return nil
	}},
	{flag: "a", section: "network", key: "autodiscovery", set: boolOption(func(s *Settings) *bool { return &s.Autodiscovery })},
	{flag: "r", section: "general", key: "restart", set: boolOption(func(s *Settings) *bool { return &s.Restart })},
	{flag: "n", section: "general", key: "proto", arg: "PROTO", set: func(s *Settings, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxProto {
			return fmt.Errorf("pickle protocol must be a number from 0 to %d, not %q", maxProto, v)
		}
		s.Proto = n
		return nil
	}},
	{flag: "c", arg: "CONFIG", set: stringOption(func(s *Settings) *string { return &s.Config })},
	{flag: "i", section: "network", key: "interface", arg: "INTERFACE", set: func(s *Settings, v string) error {
		if v == "" {
			return nil // legacy: an empty -i keeps the default
		}
		host, err := parseInterface(v)
		if err != nil {
			return err
		}
		s.Interface = host
		return nil
	}},
	{flag: "b", section: "network", key: "broadcast", arg: "BROADCAST", set: func(s *Settings, v string) error {
		if v == "" {
			return nil
		}
		// Autodiscovery is IPv4 broadcast; IPv6 has no broadcast.
		if a, err := netip.ParseAddr(v); err != nil || !a.Unmap().Is4() {
			return fmt.Errorf("broadcast address must be an IPv4 address, not %q", v)
		}
		s.Broadcast = v
		return nil
	}},
	{flag: "p", section: "network", key: "port", arg: "PORT", set: func(s *Settings, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port must be a number from 1 to 65535, not %q", v)
		}
		s.Port = n
		return nil
	}},
	{flag: "w", section: "general", key: "workers", arg: "NWORKERS", set: func(s *Settings, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("number of workers must be a whole number of at least 1, not %q", v)
		}
		s.Workers = n
		return nil
	}},
	// -s and --secret-file (secret and secret_file) set the same thing:
	// the last one given wins.
	{flag: "s", section: "general", key: "secret", arg: "SECRET", set: func(s *Settings, v string) error {
		if v != "" { // legacy: an empty -s leaves the secret to the config file or PP_SECRET
			s.Secret, s.SecretFile = v, ""
		}
		return nil
	}},
	{flag: "secret-file", section: "general", key: "secret_file", arg: "PATH", set: func(s *Settings, v string) error {
		if v != "" {
			s.Secret, s.SecretFile = "", v
		}
		return nil
	}},
	{flag: "t", section: "network", key: "timeout", arg: "SECONDS", set: func(s *Settings, v string) error {
		d, err := parseSeconds(v)
		if err != nil {
			return err
		}
		s.IdleTimeout = d
		return nil
	}},
	{flag: "k", section: "network", key: "socket_timeout", arg: "SECONDS", set: func(s *Settings, v string) error {
		d, err := parseSeconds(v)
		if err != nil {
			return err
		}
		s.SocketTimeout = d
		return nil
	}},
	{flag: "P", section: "general", key: "pid_file", arg: "PIDFILE", set: stringOption(func(s *Settings) *string { return &s.PIDFile })},
	{flag: "python", section: "general", key: "python", arg: "PATH", set: stringOption(func(s *Settings) *string { return &s.Python })},
	{flag: "max-handshakes", section: "network", key: "max_handshakes", arg: "N",
		set: countOption(func(s *Settings) *int { return &s.MaxHandshakes })},
	{flag: "max-handshakes-per-address", section: "network", key: "max_handshakes_per_address", arg: "N",
		set: countOption(func(s *Settings) *int { return &s.MaxHandshakesPerAddr })},
	{flag: "failed-handshake-burst", section: "network", key: "failed_handshake_burst", arg: "N",
		set: countOption(func(s *Settings) *int { return &s.FailedHandshakeBurst })},
	{flag: "failed-handshake-rate", section: "network", key: "failed_handshake_rate", arg: "PER_SECOND", set: func(s *Settings, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0) || f > 1e9 {
			return fmt.Errorf("expected a positive number per second, not %q", v)
		}
		s.FailedHandshakeRate = f
		return nil
	}},
	{flag: "write-timeout", section: "network", key: "write_timeout", arg: "SECONDS", set: func(s *Settings, v string) error {
		d, err := parseSeconds(v)
		if err != nil {
			return err
		}
		s.WriteTimeout = d
		return nil
	}},
	{flag: "max-queued-mb", section: "network", key: "max_queued_mb", arg: "MIB",
		set: countOption(func(s *Settings) *int { return &s.MaxQueuedMiB })},
	{flag: "metrics", section: "network", key: "metrics", arg: "ADDR", set: func(s *Settings, v string) error {
		addr, err := metrics.ParseAddr(v)
		if err != nil {
			return err
		}
		s.Metrics = addr
		return nil
	}},
}

// parseInterface checks an -i value: a host name or an IP address. An
// IPv6 one may come bracketed, as users copy it from "[::1]:35000"; it is
// kept bare, because net.JoinHostPort adds the brackets when it listens.
// A port is refused rather than read as part of an address: -p sets it.
func parseInterface(v string) (string, error) {
	if strings.HasPrefix(v, "[") || strings.HasSuffix(v, "]") {
		inner, _ := strings.CutPrefix(v, "[")
		inner, _ = strings.CutSuffix(inner, "]")
		if a, err := netip.ParseAddr(inner); err != nil || !a.Is6() || "["+inner+"]" != v {
			return "", fmt.Errorf("%q: brackets may only enclose an IPv6 address, as in [::1]", v)
		}
		return inner, nil
	}
	if strings.ContainsAny(v, " /[]") {
		return "", fmt.Errorf("%q is not a host name or IP address", v)
	}
	if _, err := netip.ParseAddr(v); err != nil && strings.Contains(v, ":") {
		return "", fmt.Errorf("%q is not a host name or IP address (the port is set with -p)", v)
	}
	return v, nil
}

func lookupFlag(name string) *option {
	for i := range options {
		if options[i].flag == name {
			return &options[i]
		}
	}
	return nil
}

// parseBool accepts what Python's configparser getboolean accepts.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "yes", "true", "on":
		return true, nil
	case "0", "no", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("expected a boolean (yes/no, true/false, on/off, 1/0), not %q", v)
}

// parseSeconds reads a positive number of seconds; fractions are allowed
// (legacy takes whole seconds only).
func parseSeconds(v string) (time.Duration, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0) || f > 1e9 {
		return 0, fmt.Errorf("expected a positive number of seconds, not %q", v)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// flagSetting is one flag given on the command line, applied after the
// config file so that flags win, as in legacy ppserver.
type flagSetting struct {
	opt   *option
	value string
}

// parseCommandLine reads args the way legacy ppserver's getopt did:
// single-letter flags that may be grouped (-da) and whose argument may be
// attached (-p60000) or follow, plus --python, --help and --version. It
// returns the flags in the order given.
func parseCommandLine(args []string) ([]flagSetting, error) {
	var out []flagSetting
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			if i+1 < len(args) {
				return nil, usageErrorf("unexpected argument %q", args[i+1])
			}
			return out, nil
		case strings.HasPrefix(a, "--"):
			name, value, hasValue := strings.Cut(a[2:], "=")
			o := lookupFlag(name)
			if o == nil || len(name) == 1 {
				return nil, usageErrorf("unknown option --%s", name)
			}
			switch {
			case o.arg == "" && hasValue:
				return nil, usageErrorf("option --%s takes no argument", name)
			case o.arg == "":
				value = "1"
			case !hasValue:
				i++
				if i == len(args) {
					return nil, usageErrorf("option --%s needs an argument (%s)", name, o.arg)
				}
				value = args[i]
			}
			out = append(out, flagSetting{o, value})
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				name := a[j : j+1]
				o := lookupFlag(name)
				if o == nil {
					return nil, usageErrorf("unknown option -%s", name)
				}
				if o.arg == "" {
					out = append(out, flagSetting{o, "1"})
					continue
				}
				value := a[j+1:]
				if value == "" {
					i++
					if i == len(args) {
						return nil, usageErrorf("option -%s needs an argument (%s)", name, o.arg)
					}
					value = args[i]
				}
				out = append(out, flagSetting{o, value})
				break
			}
		default:
			return nil, usageErrorf("unexpected argument %q (ppserver takes only options)", a)
		}
	}
	return out, nil
}

// flagName is how a flag is spelled on the command line.
func flagName(o *option) string {
	if len(o.flag) == 1 {
		return "-" + o.flag
	}
	return "--" + o.flag
}

// loadSettings turns the command line into Settings: defaults, then the
// config file named by -c, then the other flags. A secret file is read
// with readFile. getenv supplies PP_SECRET, else PP_SECRET_FILE, when
// neither names a secret. Warnings are for the log: about the config
// file, and about a secret on the command line.
func loadSettings(args []string, readFile func(string) ([]byte, error), getenv func(string) string) (s Settings, warnings []string, err error) {
	flags, err := parseCommandLine(args)
	if err != nil {
		return Settings{}, nil, err
	}
	s = defaultSettings()
	for _, f := range flags {
		if f.opt.flag == "c" {
			s.Config = f.value
		}
	}
	if s.Config != "" {
		data, err := readFile(s.Config)
		if err != nil {
			return Settings{}, nil, usageErrorf("config file: %v", err)
		}
		if warnings, err = applyConfig(&s, s.Config, data); err != nil {
			return Settings{}, nil, err
		}
	}
	secretFlag := ""
	for _, f := range flags {
		if err := f.opt.set(&s, f.value); err != nil {
			return Settings{}, nil, usageErrorf("%s: %v", flagName(f.opt), err)
		}
		if (f.opt.flag == "s" || f.opt.flag == "secret-file") && f.value != "" {
			secretFlag = f.opt.flag
		}
	}
	if secretFlag == "s" {
		warnings = append(warnings, "the secret given with -s is visible to other users of this machine (ps); "+
			"use --secret-file PATH, `secret =` in a config file only you can read, or PP_SECRET_FILE")
	}
	if s.SecretFile != "" {
		if s.Secret, err = readSecretFile(s.SecretFile, readFile); err != nil {
			return Settings{}, nil, usageErrorf("secret file: %v", err)
		}
	}
	if s.Secret == "" {
		s.Secret = getenv("PP_SECRET")
	}
	if path := getenv("PP_SECRET_FILE"); s.Secret == "" && path != "" {
		if s.Secret, err = readSecretFile(path, readFile); err != nil {
			return Settings{}, nil, usageErrorf("PP_SECRET_FILE: %v", err)
		}
		s.SecretFile = path
	}
	return s, warnings, nil
}

// readSecretFile reads a secret as pp clients read PP_SECRET_FILE: the
// file's contents without its final line break.
func readSecretFile(path string, readFile func(string) ([]byte, error)) (string, error) {
	data, err := readFile(path)
	if err != nil {
		return "", err
	}
	secret := strings.TrimRight(string(data), "\r\n")
	if secret == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return secret, nil
}
