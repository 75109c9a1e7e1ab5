package discovery

import (
	"strings"
	"testing"
)

func TestParseMessage(t *testing.T) {
	tests := []struct {
		in   string
		want message
		ok   bool
	}{
		{"ppgo-discovery 1 C", message{kind: kindClient}, true},
		{"ppgo-discovery 1 S 60000", message{kind: kindServer, port: 60000}, true},
		{"ppgo-discovery 1 S 1", message{kind: kindServer, port: 1}, true},
		{"ppgo-discovery 1 S 65535", message{kind: kindServer, port: 65535}, true},
		{"", message{}, false},
		{"C", message{}, false}, // legacy pp speaks bare "C" and "S"
		{"S", message{}, false},
		{"ppgo-discovery", message{}, false},
		{"ppgo-discovery 2 C", message{}, false},
		{"ppgo-discovery 2 S 60000", message{}, false},
		{"ppgo-discovery 1 X", message{}, false},
		{"ppgo-discovery 1 C 60000", message{}, false},
		{"ppgo-discovery 1 S", message{}, false},
		{"ppgo-discovery 1 S 0", message{}, false},
		{"ppgo-discovery 1 S 65536", message{}, false},
		{"ppgo-discovery 1 S 060000", message{}, false},
		{"ppgo-discovery 1 S +6000", message{}, false},
		{"ppgo-discovery 1 S -1", message{}, false},
		{"ppgo-discovery 1 S 6000 ", message{}, false},
		{"ppgo-discovery  1 C", message{}, false},
		{"ppgo-discovery 1 C\n", message{}, false},
		{"PPGO-DISCOVERY 1 C", message{}, false},
		{"ppgo-discovery 1 S 6000" + strings.Repeat(" ", MaxDatagram), message{}, false},
	}
	for _, tt := range tests {
		got, err := parseMessage([]byte(tt.in))
		if ok := err == nil; ok != tt.ok || got != tt.want {
			t.Errorf("parseMessage(%q) = %+v, %v; want %+v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok && got.String() != tt.in {
			t.Errorf("parseMessage(%q).String() = %q", tt.in, got.String())
		}
	}
}

// FuzzParseMessage checks that the parser never panics and that whatever
// it accepts is exactly what String writes.
func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{"ppgo-discovery 1 C", "ppgo-discovery 1 S 60000", "ppgo-discovery 2 S 1", "S"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMessage(b)
		if err != nil {
			return
		}
		if m.String() != string(b) {
			t.Fatalf("parseMessage(%q) = %+v, which writes %q", b, m, m.String())
		}
		if len(b) > MaxDatagram {
			t.Fatalf("accepted %d bytes, over MaxDatagram", len(b))
		}
	})
}
