package discovery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
)

// testSecret signs the announcements of this package's tests.
const testSecret = "discovery test secret"

// signed is an announcement of node with stamp, signed under secret.
func signed(secret, node string, stamp uint64) message {
	m := message{kind: kindServer, addr: netip.MustParseAddrPort(node), stamp: stamp}
	newSigner([]byte(secret)).sign(&m)
	return m
}

func TestParseMessage(t *testing.T) {
	good := signed(testSecret, "10.0.0.5:60000", 1767225600000)
	mac := good.String()[len(good.String())-2*macSize:]
	tests := []struct {
		in   string
		want message
		why  reason
	}{
		{"ppgo-discovery 2 C", message{kind: kindClient}, ok},
		{good.String(), good, ok},
		{"ppgo-discovery 2 S 127.0.0.1 1 0 " + mac, message{kind: kindServer, addr: netip.MustParseAddrPort("127.0.0.1:1"), mac: good.mac}, ok},
		{"ppgo-discovery 2 S 1.2.3.4 65535 18446744073709551615 " + mac,
			message{kind: kindServer, addr: netip.MustParseAddrPort("1.2.3.4:65535"), stamp: 1<<64 - 1, mac: good.mac}, ok},
		{"", message{}, notOurs},
		{"C", message{}, notOurs}, // legacy pp speaks bare "C" and "S"
		{"S", message{}, notOurs},
		{"ppgo-discovery", message{}, notOurs},
		{"PPGO-DISCOVERY 2 C", message{}, notOurs},
		{"ppgo-discovery 1 C", message{}, badVersion},
		{"ppgo-discovery 1 S 60000", message{}, badVersion}, // what version 1 announced
		{"ppgo-discovery 3 C", message{}, badVersion},
		{"ppgo-discovery 02 C", message{}, malformed},
		{"ppgo-discovery  2 C", message{}, malformed},
		{"ppgo-discovery 2", message{}, malformed},
		{"ppgo-discovery 2 X", message{}, malformed},
		{"ppgo-discovery 2 C ", message{}, malformed},
		{"ppgo-discovery 2 C\n", message{}, malformed},
		{"ppgo-discovery 2 C 60000", message{}, malformed},
		{"ppgo-discovery 2 S", message{}, malformed},
		{"ppgo-discovery 2 S 10.0.0.5 60000 1767225600000", message{}, malformed},
		{"ppgo-discovery 2 S 10.0.0.5 60000 " + mac, message{}, malformed},
		{good.String() + " ", message{}, malformed},
		{good.String() + "0", message{}, malformed},
		{strings.ToUpper(good.String()[:len(good.String())-2*macSize]) + mac, message{}, notOurs},
		{good.String()[:len(good.String())-2*macSize] + strings.ToUpper(mac), message{}, malformed},
		{good.String()[:len(good.String())-1] + "g", message{}, malformed},
		{strings.Replace(good.String(), " 60000 ", " 0 ", 1), message{}, malformed},
		{strings.Replace(good.String(), " 60000 ", " 65536 ", 1), message{}, malformed},
		{strings.Replace(good.String(), " 60000 ", " 060000 ", 1), message{}, malformed},
		{strings.Replace(good.String(), " 60000 ", " +6000 ", 1), message{}, malformed},
		{strings.Replace(good.String(), " 60000 ", " -1 ", 1), message{}, malformed},
		{strings.Replace(good.String(), " 1767225600000 ", " 01767225600000 ", 1), message{}, malformed},
		{strings.Replace(good.String(), " 1767225600000 ", " 18446744073709551616 ", 1), message{}, malformed},
		{strings.Replace(good.String(), "10.0.0.5", "10.0.0.05", 1), message{}, malformed},
		{strings.Replace(good.String(), "10.0.0.5", "10.0.0.256", 1), message{}, malformed},
		{strings.Replace(good.String(), "10.0.0.5", "10.0.5", 1), message{}, malformed},
		{strings.Replace(good.String(), "10.0.0.5", "10.0.0.0.5", 1), message{}, malformed},
		{strings.Replace(good.String(), "10.0.0.5", "::1", 1), message{}, malformed},
		{strings.Replace(good.String(), "10.0.0.5", "::ffff:10.0.0.5", 1), message{}, malformed},
		{strings.Replace(good.String(), "10.0.0.5", "0.0.0.0", 1), message{}, malformed},
		{strings.Replace(good.String(), "10.0.0.5", "255.255.255.255", 1), message{}, malformed},
		{strings.Replace(good.String(), "10.0.0.5", "224.0.0.1", 1), message{}, malformed},
		{strings.Replace(good.String(), "10.0.0.5", "localhost", 1), message{}, malformed},
		{"ppgo-discovery 2 C" + strings.Repeat(" ", MaxDatagram), message{}, oversized},
	}
	for _, tt := range tests {
		got, why := parseMessage([]byte(tt.in))
		if why != tt.why || got != tt.want {
			t.Errorf("parseMessage(%q) = %+v, %v; want %+v, %v", tt.in, got, why, tt.want, tt.why)
		}
		if why == ok && got.String() != tt.in {
			t.Errorf("parseMessage(%q).String() = %q", tt.in, got.String())
		}
	}
}

// FuzzParseMessage checks that the parser never panics, that whatever it
// accepts is exactly what String writes, and that checking a MAC on
// whatever it accepts never panics either.
func FuzzParseMessage(f *testing.F) {
	for _, m := range []message{
		{kind: kindClient},
		signed(testSecret, "10.0.0.5:60000", 1767225600000),
		signed(testSecret, "255.255.255.254:65535", 1<<64-1),
		signed("", "127.0.0.1:1", 0),
	} {
		f.Add([]byte(m.String()))
	}
	for _, s := range []string{"ppgo-discovery 1 C", "ppgo-discovery 1 S 60000", "ppgo-discovery 2 S 1.2.3.4 5 6 7", "S"} {
		f.Add([]byte(s))
	}
	s := newSigner([]byte(testSecret))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, why := parseMessage(b)
		if why != ok {
			if m != (message{}) {
				t.Fatalf("parseMessage(%q) refused it (%v) but returned %+v", b, why, m)
			}
			return
		}
		if m.String() != string(b) {
			t.Fatalf("parseMessage(%q) = %+v, which writes %q", b, m, m.String())
		}
		if len(b) > MaxDatagram {
			t.Fatalf("accepted %d bytes, over MaxDatagram", len(b))
		}
		if m.kind == kindServer && s.verify(&m, b) != (s.tag(m.appendSigned(nil)) == m.mac) {
			t.Fatalf("verify(%q) disagrees with signing it afresh", b)
		}
	})
}

// TestSigner: a MAC is bound to the secret and to every field it covers,
// and the key is derived under a label of discovery's own.
func TestSigner(t *testing.T) {
	m := signed(testSecret, "10.0.0.5:60000", 1767225600000)
	s := newSigner([]byte(testSecret))
	if !s.verify(&m, []byte(m.String())) {
		t.Fatal("an announcement does not verify under its own secret")
	}
	for _, secret := range []string{"another secret", "", testSecret + " "} {
		if newSigner([]byte(secret)).verify(&m, []byte(m.String())) {
			t.Errorf("an announcement signed under %q verifies under %q", testSecret, secret)
		}
	}
	for name, other := range map[string]message{
		"ip":    signed(testSecret, "10.0.0.6:60000", 1767225600000),
		"port":  signed(testSecret, "10.0.0.5:60001", 1767225600000),
		"stamp": signed(testSecret, "10.0.0.5:60000", 1767225600001),
	} {
		forged := other
		forged.mac = m.mac // the MAC of one announcement on another
		if s.verify(&forged, []byte(forged.String())) {
			t.Errorf("an announcement with another %s verifies with the original's MAC", name)
		}
	}
	// Computed as doc.go says, independently of signer.
	key := hmac.New(sha256.New, []byte(testSecret))
	key.Write([]byte("ppgo discovery announcement key v2"))
	mac := hmac.New(sha256.New, key.Sum(nil))
	mac.Write([]byte("ppgo-discovery 2 S 10.0.0.5 60000 1767225600000"))
	want := "ppgo-discovery 2 S 10.0.0.5 60000 1767225600000 " + hex.EncodeToString(mac.Sum(nil)[:16])
	if m.String() != want {
		t.Errorf("announcement %q, want %q", m, want)
	}
	// The example in doc.go.
	if example := "ppgo-discovery 2 S 10.0.0.5 60000 1767225600000 80f534f3de82139c20e8e8a7361426de"; m.String() != example {
		t.Errorf("announcement %q, doc.go says %q", m, example)
	}
}
