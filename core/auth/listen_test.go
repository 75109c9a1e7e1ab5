package auth_test

import (
	"strings"
	"testing"

	"github.com/ppgo/ppgo/core/auth"
)

func TestCheckListen(t *testing.T) {
	const custom = "a secret of our own"
	for _, tc := range []struct {
		secret, host string
		want         string // "" when refused
	}{
		{"", "127.0.0.1", auth.DefaultSecret},
		{"", "127.8.9.10", auth.DefaultSecret},
		{"", "::1", auth.DefaultSecret},
		{"", "localhost", auth.DefaultSecret},
		{"", "[::1]", auth.DefaultSecret},
		{"", "LocalHost", auth.DefaultSecret},
		{auth.DefaultSecret, "127.0.0.1", auth.DefaultSecret},
		{auth.DefaultSecret, "::1", auth.DefaultSecret},
		{auth.DefaultSecret, "localhost", auth.DefaultSecret},
		{"", "0:0:0:0:0:0:0:1", auth.DefaultSecret},
		{"", "::1%lo", auth.DefaultSecret},
		{"", "::ffff:127.0.0.1", auth.DefaultSecret},
		{auth.DefaultSecret, "[::1]", auth.DefaultSecret},

		{"", "0.0.0.0", ""},
		{"", "", ""},
		{"", "::", ""},
		{"", "10.1.2.3", ""},
		{"", "192.168.1.20", ""},
		{"", "fe80::1", ""},
		{"", "[::]", ""},
		{"", "::ffff:0.0.0.0", ""},
		{"", "2001:db8::1", ""},
		{"", "::2", ""},
		{auth.DefaultSecret, "::", ""},
		{"", "example.com", ""},
		{auth.DefaultSecret, "0.0.0.0", ""},
		{auth.DefaultSecret, "", ""},
		{auth.DefaultSecret, "10.1.2.3", ""},

		{custom, "127.0.0.1", custom},
		{custom, "localhost", custom},
		{custom, "0.0.0.0", custom},
		{custom, "", custom},
		{custom, "10.1.2.3", custom},
	} {
		got, err := auth.CheckListen(tc.secret, tc.host)
		switch {
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("CheckListen(%q, %q) = %q, %v; want %q", tc.secret, tc.host, got, err, tc.want)
		case tc.want == "" && err == nil:
			t.Errorf("CheckListen(%q, %q) = %q, want refused", tc.secret, tc.host, got)
		case tc.want == "" && got != "":
			t.Errorf("CheckListen(%q, %q) refused but returned secret %q", tc.secret, tc.host, got)
		case tc.want == "":
			// The message tells the operator how to fix it.
			for _, hint := range []string{"-s", "PP_SECRET", "-i ::1"} {
				if !strings.Contains(err.Error(), hint) {
					t.Errorf("CheckListen(%q, %q): %q does not mention %s", tc.secret, tc.host, err, hint)
				}
			}
		}
	}
}
