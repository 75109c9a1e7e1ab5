package main

import (
	"errors"
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// files is a fake file system for config files.
type files map[string]string

func (f files) read(name string) ([]byte, error) {
	data, ok := f[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return []byte(data), nil
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

const fullConfig = `
# every key legacy ppserver reads, and ours
[general]
debug = yes
workers = 3
secret = from-config
restart = true
proto = 2
pid_file = /run/pp.pid
quiet = off
python = /opt/py/bin/python3

[network]
autodiscovery = 1
interface = 127.0.0.1
broadcast = 127.255.255.255
port = 61000
timeout = 30
socket_timeout = 7.5
max_handshakes = 100
max_handshakes_per_address = 4
failed_handshake_burst = 3
failed_handshake_rate = 0.5
write_timeout = 2.5
max_queued_mb = 64
`

func TestLoadSettings(t *testing.T) {
	defaults := defaultSettings()
	tests := []struct {
		name  string
		args  []string
		files files
		env   map[string]string
		check func(t *testing.T, s Settings)
	}{
		{"defaults", nil, nil, nil, func(t *testing.T, s Settings) {
			want := Settings{
				LogFormat: defaultLogFormat, Interface: "0.0.0.0", Broadcast: "255.255.255.255",
				Port: 60000, Workers: runtime.NumCPU(), Proto: 4, SocketTimeout: time.Hour,
			}
			if s != want {
				t.Errorf("got %+v\nwant %+v", s, want)
			}
		}},
		{"every flag", []string{"-d", "-q", "-f", "%(message)s", "-a", "-r", "-n", "3", "-i", "127.0.0.1",
			"-b", "127.255.255.255", "-p", "61001", "-w", "5", "-s", "sec", "-t", "2.5", "-k", "9",
			"-P", "/tmp/p.pid", "--python", "/usr/bin/python3"}, nil, nil, func(t *testing.T, s Settings) {
			want := Settings{
				Debug: true, Quiet: true, LogFormat: "%(message)s", Autodiscovery: true, Restart: true,
				Proto: 3, Interface: "127.0.0.1", Broadcast: "127.255.255.255", Port: 61001, Workers: 5,
				Secret: "sec", IdleTimeout: 2500 * time.Millisecond, SocketTimeout: 9 * time.Second,
				PIDFile: "/tmp/p.pid", Python: "/usr/bin/python3",
			}
			if s != want {
				t.Errorf("got %+v\nwant %+v", s, want)
			}
		}},
		{"getopt style: grouped switches, attached arguments", []string{"-dra", "-p61002", "-qw", "2", "-sx"}, nil, nil,
			func(t *testing.T, s Settings) {
				if !s.Debug || !s.Restart || !s.Autodiscovery || !s.Quiet || s.Port != 61002 || s.Workers != 2 || s.Secret != "x" {
					t.Errorf("got %+v", s)
				}
			}},
		{"--python=PATH", []string{"--python=/x/python3"}, nil, nil, func(t *testing.T, s Settings) {
			if s.Python != "/x/python3" {
				t.Errorf("Python = %q", s.Python)
			}
		}},
		{"-h", []string{"-h"}, nil, nil, func(t *testing.T, s Settings) {
			if !s.Help {
				t.Error("Help not set")
			}
		}},
		{"--help", []string{"--help"}, nil, nil, func(t *testing.T, s Settings) {
			if !s.Help {
				t.Error("Help not set")
			}
		}},
		{"-- ends the options", []string{"-d", "--"}, nil, nil, func(t *testing.T, s Settings) {
			if !s.Debug {
				t.Error("Debug not set")
			}
		}},
		{"secret from PP_SECRET", nil, nil, map[string]string{"PP_SECRET": "env"}, func(t *testing.T, s Settings) {
			if s.Secret != "env" {
				t.Errorf("Secret = %q", s.Secret)
			}
		}},
		{"-s beats PP_SECRET", []string{"-s", "flag"}, nil, map[string]string{"PP_SECRET": "env"}, func(t *testing.T, s Settings) {
			if s.Secret != "flag" {
				t.Errorf("Secret = %q", s.Secret)
			}
		}},
		{"empty -s leaves the secret to PP_SECRET", []string{"-s", ""}, nil, map[string]string{"PP_SECRET": "env"}, func(t *testing.T, s Settings) {
			if s.Secret != "env" {
				t.Errorf("Secret = %q", s.Secret)
			}
		}},
		{"config secret beats PP_SECRET", []string{"-c", "pp.ini"}, files{"pp.ini": "[general]\nsecret = conf\n"},
			map[string]string{"PP_SECRET": "env"}, func(t *testing.T, s Settings) {
				if s.Secret != "conf" {
					t.Errorf("Secret = %q", s.Secret)
				}
			}},
		{"every config key", []string{"-c", "pp.ini"}, files{"pp.ini": fullConfig}, nil, func(t *testing.T, s Settings) {
			want := Settings{
				Debug: true, LogFormat: defaultLogFormat, Autodiscovery: true, Restart: true, Proto: 2,
				Interface: "127.0.0.1", Broadcast: "127.255.255.255", Port: 61000, Workers: 3,
				Secret: "from-config", IdleTimeout: 30 * time.Second, SocketTimeout: 7500 * time.Millisecond,
				PIDFile: "/run/pp.pid", Python: "/opt/py/bin/python3", Config: "pp.ini",
				MaxHandshakes: 100, MaxHandshakesPerAddr: 4, FailedHandshakeBurst: 3, FailedHandshakeRate: 0.5,
				WriteTimeout: 2500 * time.Millisecond, MaxQueuedMiB: 64,
			}
			if s != want {
				t.Errorf("got %+v\nwant %+v", s, want)
			}
		}},
		{"flags override the config file, wherever -c is", []string{"-p", "62000", "-c", "pp.ini", "-w", "1", "-s", "flag", "-i", "localhost"},
			files{"pp.ini": fullConfig}, nil, func(t *testing.T, s Settings) {
				if s.Port != 62000 || s.Workers != 1 || s.Secret != "flag" || s.Interface != "localhost" || s.Proto != 2 {
					t.Errorf("got %+v", s)
				}
			}},
		{"a switch in the config cannot be unset by its absence on the command line", []string{"-c", "pp.ini"},
			files{"pp.ini": "[general]\nrestart = no\ndebug = 1\n"}, nil, func(t *testing.T, s Settings) {
				if s.Restart || !s.Debug {
					t.Errorf("got %+v", s)
				}
			}},
		{"a switch on the command line wins over no in the config", []string{"-c", "pp.ini", "-r"},
			files{"pp.ini": "[general]\nrestart = no\n"}, nil, func(t *testing.T, s Settings) {
				if !s.Restart {
					t.Errorf("got %+v", s)
				}
			}},
		{"configparser syntax: case, colons, comments, CRLF, BOM, %", []string{"-c", "pp.ini"},
			files{"pp.ini": "\uFEFF; comment\r\n[GENERAL]\r\nSecret: a%b = c \r\n# more\r\n\r\n[Network]\r\nPORT=61003\r\n"}, nil,
			func(t *testing.T, s Settings) {
				if s.Secret != "a%b = c" || s.Port != 61003 {
					t.Errorf("got %+v", s)
				}
			}},
		{"IPv6 interface in the config, bracketed", []string{"-c", "pp.ini"}, files{"pp.ini": "[network]\ninterface = [::1]\n"}, nil,
			func(t *testing.T, s Settings) {
				if s.Interface != "::1" {
					t.Errorf("Interface = %q, want ::1", s.Interface)
				}
			}},
		{"limits", []string{"--max-handshakes", "10", "--max-handshakes-per-address=2", "--failed-handshake-burst", "1",
			"--failed-handshake-rate", "0.25", "--write-timeout", "0.5", "--max-queued-mb", "1"}, nil, nil,
			func(t *testing.T, s Settings) {
				if s.MaxHandshakes != 10 || s.MaxHandshakesPerAddr != 2 || s.FailedHandshakeBurst != 1 ||
					s.FailedHandshakeRate != 0.25 || s.WriteTimeout != 500*time.Millisecond || s.MaxQueuedMiB != 1 {
					t.Errorf("got %+v", s)
				}
			}},
		{"--metrics", []string{"--metrics", "127.0.0.1:0"}, nil, nil, func(t *testing.T, s Settings) {
			if s.Metrics != "127.0.0.1:0" {
				t.Errorf("Metrics = %q", s.Metrics)
			}
		}},
		{"metrics in the config, the flag wins", []string{"-c", "pp.ini", "--metrics=:9200"},
			files{"pp.ini": "[network]\nmetrics = [::1]:9100\n"}, nil, func(t *testing.T, s Settings) {
				if s.Metrics != ":9200" {
					t.Errorf("Metrics = %q", s.Metrics)
				}
			}},
		{"metrics in the config", []string{"-c", "pp.ini"},
			files{"pp.ini": "[network]\nmetrics = [::1]:9100\n"}, nil, func(t *testing.T, s Settings) {
				if s.Metrics != "[::1]:9100" {
					t.Errorf("Metrics = %q", s.Metrics)
				}
			}},
		{"--secret-file, without its final line break", []string{"--secret-file", "/etc/pp.secret"},
			files{"/etc/pp.secret": "from file \r\n"}, map[string]string{"PP_SECRET": "env"}, func(t *testing.T, s Settings) {
				if s.Secret != "from file " || s.SecretFile != "/etc/pp.secret" {
					t.Errorf("Secret = %q from %q", s.Secret, s.SecretFile)
				}
			}},
		{"secret_file in the config", []string{"-c", "pp.ini"},
			files{"pp.ini": "[general]\nsecret_file = /etc/pp.secret\n", "/etc/pp.secret": "conf-file\n"}, nil,
			func(t *testing.T, s Settings) {
				if s.Secret != "conf-file" {
					t.Errorf("Secret = %q", s.Secret)
				}
			}},
		{"--secret-file beats the config's secret", []string{"-c", "pp.ini", "--secret-file", "/s"},
			files{"pp.ini": "[general]\nsecret = conf\n", "/s": "flag-file"}, nil, func(t *testing.T, s Settings) {
				if s.Secret != "flag-file" {
					t.Errorf("Secret = %q", s.Secret)
				}
			}},
		{"-s after --secret-file wins", []string{"--secret-file", "/s", "-s", "flag"}, files{"/s": "file"}, nil,
			func(t *testing.T, s Settings) {
				if s.Secret != "flag" || s.SecretFile != "" {
					t.Errorf("Secret = %q from %q", s.Secret, s.SecretFile)
				}
			}},
		{"--secret-file after -s wins", []string{"-s", "flag", "--secret-file", "/s"}, files{"/s": "file"}, nil,
			func(t *testing.T, s Settings) {
				if s.Secret != "file" {
					t.Errorf("Secret = %q", s.Secret)
				}
			}},
		{"PP_SECRET_FILE when nothing else names a secret", nil, files{"/s": "env-file\n"},
			map[string]string{"PP_SECRET_FILE": "/s"}, func(t *testing.T, s Settings) {
				if s.Secret != "env-file" || s.SecretFile != "/s" {
					t.Errorf("Secret = %q from %q", s.Secret, s.SecretFile)
				}
			}},
		{"PP_SECRET beats PP_SECRET_FILE", nil, files{}, map[string]string{"PP_SECRET": "env", "PP_SECRET_FILE": "/missing"},
			func(t *testing.T, s Settings) {
				if s.Secret != "env" {
					t.Errorf("Secret = %q", s.Secret)
				}
			}},
		{"other sections are ignored", []string{"-c", "pp.ini"}, files{"pp.ini": "[other]\nport = x\n[network]\nport = 61004\n"}, nil,
			func(t *testing.T, s Settings) {
				if s.Port != 61004 {
					t.Errorf("got %+v", s)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, err := loadSettings(tt.args, tt.files.read, env(tt.env))
			if err != nil {
				t.Fatalf("loadSettings(%q): %v", tt.args, err)
			}
			tt.check(t, s)
		})
	}
	if defaults.Workers < 1 {
		t.Errorf("default workers %d", defaults.Workers)
	}
}

func TestLoadSettingsErrors(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		files files
		want  []string // each must appear in the error
	}{
		{"unknown flag", []string{"-x"}, nil, []string{"unknown option -x"}},
		{"unknown flag in a group", []string{"-dz"}, nil, []string{"unknown option -z"}},
		{"unknown long flag", []string{"--port", "1"}, nil, []string{"unknown option --port"}},
		{"long form of a short flag", []string{"--p", "1"}, nil, []string{"unknown option --p"}},
		{"switch with a value", []string{"--version=1"}, nil, []string{"--version takes no argument"}},
		{"missing argument", []string{"-p"}, nil, []string{"option -p needs an argument (PORT)"}},
		{"missing --python argument", []string{"--python"}, nil, []string{"--python needs an argument"}},
		{"positional argument", []string{"-d", "60000"}, nil, []string{`unexpected argument "60000"`}},
		{"argument after --", []string{"--", "x"}, nil, []string{`unexpected argument "x"`}},
		{"port not a number", []string{"-p", "abc"}, nil, []string{"-p:", `"abc"`}},
		{"port out of range", []string{"-p", "65536"}, nil, []string{"-p:", "65535"}},
		{"port zero", []string{"-p0"}, nil, []string{"-p:"}},
		{"no workers", []string{"-w", "0"}, nil, []string{"-w:", "at least 1"}},
		{"proto too new", []string{"-n", "6"}, nil, []string{"-n:", "0 to 5"}},
		{"negative idle timeout", []string{"-t", "-1"}, nil, []string{"-t:", "positive"}},
		{"socket timeout not a number", []string{"-k", "1h"}, nil, []string{"-k:", `"1h"`}},
		{"broadcast not an address", []string{"-b", "everyone"}, nil, []string{"-b:", "everyone"}},
		{"interface with a space", []string{"-i", "eth0 eth1"}, nil, []string{"-i:"}},
		{"interface with a port", []string{"-i", "127.0.0.1:35000"}, nil, []string{"-i:", "-p"}},
		{"IPv6 interface in the config, unclosed", []string{"-c", "pp.ini"}, files{"pp.ini": "[network]\ninterface = [::1\n"},
			[]string{"pp.ini:2: [network] interface:", "IPv6"}},
		{"IPv6 broadcast", []string{"-b", "ff02::1"}, nil, []string{"-b:", "IPv4"}},
		{"log format field", []string{"-f", "%(funcName)s"}, nil, []string{"-f:", "funcName", "supported"}},
		{"log format without conversion", []string{"-f", "%(message)"}, nil, []string{"-f:", "conversion"}},
		{"log format stray percent", []string{"-f", "100% %(message)s"}, nil, []string{"-f:"}},
		{"missing config file", []string{"-c", "nope.ini"}, files{}, []string{"nope.ini", "not exist"}},
		{"bad number in config", []string{"-c", "pp.ini"}, files{"pp.ini": "[network]\nport = sixty\n"},
			[]string{"config file pp.ini:2: [network] port:", `"sixty"`}},
		{"bad boolean in config", []string{"-c", "pp.ini"}, files{"pp.ini": "[general]\n\nrestart = maybe\n"},
			[]string{"pp.ini:3: [general] restart:", "boolean"}},
		{"bad workers in config", []string{"-c", "pp.ini"}, files{"pp.ini": "[general]\nworkers = -2\n"},
			[]string{"[general] workers:"}},
		{"key before any section", []string{"-c", "pp.ini"}, files{"pp.ini": "port = 1\n"}, []string{"pp.ini:1:", "before any [section]"}},
		{"line without =", []string{"-c", "pp.ini"}, files{"pp.ini": "[general]\ndebug\n"}, []string{"pp.ini:2:", "key = value"}},
		{"duplicate key", []string{"-c", "pp.ini"}, files{"pp.ini": "[general]\nworkers = 1\nWorkers = 2\n"}, []string{"pp.ini:3:", "twice"}},
		{"duplicate section", []string{"-c", "pp.ini"}, files{"pp.ini": "[general]\n[general]\n"}, []string{"pp.ini:2:", "twice"}},
		{"unclosed section", []string{"-c", "pp.ini"}, files{"pp.ini": "[general\n"}, []string{"pp.ini:1:", "section header"}},
		{"continuation line", []string{"-c", "pp.ini"}, files{"pp.ini": "[general]\nsecret = a\n  b\n"}, []string{"pp.ini:3:", "continuation"}},
		{"missing secret file", []string{"--secret-file", "/nope"}, files{}, []string{"secret file:", "/nope", "not exist"}},
		{"empty secret file", []string{"--secret-file", "/empty"}, files{"/empty": "\n"}, []string{"secret file:", "/empty is empty"}},
		{"missing secret file in the config", []string{"-c", "pp.ini"}, files{"pp.ini": "[general]\nsecret_file = /nope\n"},
			[]string{"secret file:", "/nope"}},
		{"limit not a number", []string{"--max-handshakes", "many"}, nil, []string{"--max-handshakes:", `"many"`}},
		{"limit zero", []string{"--max-queued-mb", "0"}, nil, []string{"--max-queued-mb:", "at least 1"}},
		{"metrics without a port", []string{"--metrics", "9100"}, nil, []string{"--metrics:", `"9100"`, "HOST:PORT or :PORT"}},
		{"metrics port out of range", []string{"-c", "pp.ini"}, files{"pp.ini": "[network]\nmetrics = :99999\n"},
			[]string{"pp.ini:2: [network] metrics:", `port "99999"`}},
		{"rate not positive", []string{"--failed-handshake-rate", "0"}, nil, []string{"--failed-handshake-rate:", "positive"}},
		{"write timeout in the config", []string{"-c", "pp.ini"}, files{"pp.ini": "[network]\nwrite_timeout = soon\n"},
			[]string{"pp.ini:2: [network] write_timeout:", `"soon"`}},
		{"a bad flag is reported even when the config is fine", []string{"-c", "pp.ini", "-p", "x"},
			files{"pp.ini": "[network]\nport = 1\n"}, []string{"-p:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := loadSettings(tt.args, tt.files.read, env(nil))
			if err == nil {
				t.Fatalf("loadSettings(%q) succeeded", tt.args)
			}
			if !errors.As(err, new(*UsageError)) {
				t.Errorf("error %v (%T) is not a UsageError", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseInterface(t *testing.T) {
	tests := []struct {
		in, want string // want "" when refused
	}{
		{"127.0.0.1", "127.0.0.1"},
		{"0.0.0.0", "0.0.0.0"},
		{"localhost", "localhost"},
		{"node1.example.com", "node1.example.com"},
		{"::1", "::1"},
		{"::", "::"},
		{"[::1]", "::1"},
		{"[::]", "::"},
		{"fe80::1%eth0", "fe80::1%eth0"},
		{"[fe80::1%eth0]", "fe80::1%eth0"},
		{"::ffff:127.0.0.1", "::ffff:127.0.0.1"},

		{"[::1", ""},
		{"::1]", ""},
		{"[[::1]]", ""},
		{"[127.0.0.1]", ""},
		{"[localhost]", ""},
		{"[]", ""},
		{"[::1]:35000", ""},
		{"::1:35000x", ""},
		{"127.0.0.1:35000", ""},
		{"localhost:35000", ""},
		{"eth0 eth1", ""},
		{"10.0.0.0/8", ""},
	}
	for _, tt := range tests {
		got, err := parseInterface(tt.in)
		switch {
		case tt.want != "" && (err != nil || got != tt.want):
			t.Errorf("parseInterface(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		case tt.want == "" && err == nil:
			t.Errorf("parseInterface(%q) = %q, want an error", tt.in, got)
		case tt.want == "" && !strings.Contains(err.Error(), tt.in):
			t.Errorf("parseInterface(%q) error %q does not name the value", tt.in, err)
		}
	}
}

func TestConfigWarnsAboutUnknownKeys(t *testing.T) {
	f := files{"pp.ini": "[general]\nsecert = typo\nworkers = 2\n[network]\nprot = 1\n"}
	s, warnings, err := loadSettings([]string{"-c", "pp.ini"}, f.read, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.Workers != 2 || s.Secret != "" {
		t.Errorf("got %+v", s)
	}
	if len(warnings) != 2 ||
		!strings.Contains(warnings[0], "pp.ini:2: [general] secert: unknown key") ||
		!strings.Contains(warnings[1], "pp.ini:5: [network] prot: unknown key") {
		t.Errorf("warnings = %q", warnings)
	}
}

func TestSecretFromTheEnvironmentFile(t *testing.T) {
	_, _, err := loadSettings(nil, files{}.read, env(map[string]string{"PP_SECRET_FILE": "/nope"}))
	if err == nil || !errors.As(err, new(*UsageError)) || !strings.Contains(err.Error(), "PP_SECRET_FILE: open /nope") {
		t.Errorf("unreadable PP_SECRET_FILE: %v, want a usage error naming it", err)
	}
}

// A secret on the command line is visible to every user of the machine
// (ps, /proc/PID/cmdline): it works, with a warning. Other ways do not
// warn.
func TestSecretOnTheCommandLineWarns(t *testing.T) {
	f := files{"pp.ini": "[general]\nsecret = conf\n", "/s": "file"}
	for _, tc := range []struct {
		args []string
		warn bool
	}{
		{[]string{"-s", "flag"}, true},
		{[]string{"-sflag", "-c", "pp.ini"}, true},
		{[]string{"--secret-file", "/s", "-s", "flag"}, true},
		{[]string{"-s", "flag", "--secret-file", "/s"}, false},
		{[]string{"--secret-file", "/s"}, false},
		{[]string{"-c", "pp.ini"}, false},
		{[]string{"-s", ""}, false},
	} {
		_, warnings, err := loadSettings(tc.args, f.read, env(map[string]string{"PP_SECRET": "env"}))
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		warned := len(warnings) == 1 && strings.Contains(warnings[0], "visible to other users") &&
			strings.Contains(warnings[0], "--secret-file")
		if warned != tc.warn || len(warnings) > 1 {
			t.Errorf("%q: warnings %q, want a warning about -s: %v", tc.args, warnings, tc.warn)
		}
	}
}

// The workers' environment is ppserver's without the secret: a job must
// not learn how to use this node, or others that share its secret. A job
// that imports pp starts no spares.
func TestWorkerEnvHasNoSecret(t *testing.T) {
	got := workerEnv([]string{"PATH=/bin", "PP_SECRET=s3cret", "PP_SECRET_FILE=/etc/pp.secret", "PP_SECRETARY=x", "HOME=/h", "PPGO_PRESTART=1"})
	want := []string{"PATH=/bin", "PP_SECRETARY=x", "HOME=/h", "PPGO_PRESTART=0"}
	if !slices.Equal(got, want) {
		t.Errorf("workerEnv = %q, want %q", got, want)
	}
}

func TestEveryOptionIsInTheHelp(t *testing.T) {
	text := usage()
	for _, o := range options {
		if o.flag == "" {
			continue
		}
		if !strings.Contains(text, flagName(&o)) {
			t.Errorf("-h does not mention %s", flagName(&o))
		}
	}
}
