package jobserver

import (
	"fmt"
	"strings"
	"testing"
)

// A client with a weak secret hears about it once, when it first expects
// remote nodes; one with a strong secret, or without remotes, does not.
func TestWeakSecretWarnedOnce(t *testing.T) {
	for _, tc := range []struct {
		name, secret string
		remotes      int
		want         string // in the one warning; "" for none
	}{
		{"short", "s3cret", 2, "short (6 characters)"},
		{"legacy default", "epo20pdosl;dksldkmm", 1, "published default"},
		{"strong", "a strong secret for TestWeakSecretWarnedOnce", 2, ""},
		{"short, local only", "s3cret", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var addrs []string // nothing answers there: only the warning matters
			for i := range tc.remotes {
				addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", i+1))
			}
			s := newClient(t, 0, tc.secret, addrs...)
			var warned []string
			for _, e := range drainEvents(s) {
				if strings.Contains(e.Message, "secret is") {
					warned = append(warned, e.Message)
				}
			}
			switch {
			case tc.want == "" && len(warned) != 0:
				t.Errorf("warned %q", warned)
			case tc.want != "" && (len(warned) != 1 || !strings.Contains(warned[0], tc.want)):
				t.Errorf("warnings %q, want one saying %q", warned, tc.want)
			}
		})
	}
}
