package auth

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/ppgo/ppgo/core/wire"
)

// TestStretchIsArgon2id: the process's cache stretches with the spec's
// parameters, and remembers.
func TestStretchIsArgon2id(t *testing.T) {
	salt := make([]byte, wire.SaltSize) // new to the cache, even under -count
	rand.Read(salt)
	secret := []byte("TestStretchIsArgon2id")
	before := stretches.runs.Load()
	want := argon2.IDKey(secret, salt, 3, 64*1024, 4, 32)
	for range 2 {
		if k := stretch(secret, salt); !bytes.Equal(k, want) {
			t.Fatalf("stretch: % x, want Argon2id(t=3, m=64 MiB, p=4): % x", k, want)
		}
	}
	if n := stretches.runs.Load() - before; n != 1 {
		t.Fatalf("two stretches of one (secret, salt) ran Argon2id %d times", n)
	}
}

// countingKDF is a cheap stand-in for Argon2id that can hold its callers
// and counts how many run at once.
type countingKDF struct {
	release chan struct{}
	running atomic.Int32
	most    atomic.Int32
}

func (k *countingKDF) kdf(secret, salt []byte) []byte {
	n := k.running.Add(1)
	defer k.running.Add(-1)
	for most := k.most.Load(); n > most && !k.most.CompareAndSwap(most, n); most = k.most.Load() {
	}
	<-k.release
	return append(bytes.Clone(salt), secret...)
}

// TestStretchOncePerSecretAndSalt: many connections asking at once for
// the same (secret, salt) cost one run; another salt or secret another.
func TestStretchOncePerSecretAndSalt(t *testing.T) {
	k := &countingKDF{release: make(chan struct{})}
	c := newStretchCache(k.kdf, 8, 2)
	salt := bytes.Repeat([]byte{1}, wire.SaltSize)
	var wg sync.WaitGroup
	keys := make([][]byte, 8)
	for i := range keys {
		wg.Go(func() { keys[i] = c.get([]byte("s"), salt) })
	}
	close(k.release)
	wg.Wait()
	if n := c.runs.Load(); n != 1 {
		t.Fatalf("8 concurrent stretches of one (secret, salt) ran the KDF %d times", n)
	}
	for i, key := range keys {
		if !bytes.Equal(key, append(bytes.Clone(salt), 's')) {
			t.Fatalf("caller %d got % x", i, key)
		}
	}
	other := bytes.Clone(salt)
	other[0] ^= 1
	c.get([]byte("s"), other)
	c.get([]byte("t"), salt)
	c.get([]byte("s"), salt)
	if n := c.runs.Load(); n != 3 {
		t.Fatalf("another salt, another secret, the first again: %d runs in all, want 3", n)
	}
}

// TestStretchCacheBounds: a client that meets ever new salts (an impostor
// may send a fresh one each time) keeps at most limit keys, and runs at
// most the concurrency bound's KDFs at once, each holding ArgonMemory.
func TestStretchCacheBounds(t *testing.T) {
	k := &countingKDF{release: make(chan struct{})}
	c := newStretchCache(k.kdf, 4, 2)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() { c.get([]byte("s"), fmt.Appendf(nil, "%016d", i)) })
	}
	for range 10 {
		k.release <- struct{}{}
	}
	wg.Wait()
	if most := k.most.Load(); most > 2 {
		t.Errorf("%d KDF runs at once, bound 2", most)
	}
	c.mu.Lock()
	n, order := len(c.entries), len(c.order)
	c.mu.Unlock()
	if n != 4 || order != 4 {
		t.Errorf("%d cached keys (%d in order), want the bound, 4", n, order)
	}
}

func TestServerSalt(t *testing.T) {
	if s := serverSalt(); len(s) != wire.SaltSize || bytes.Equal(s, make([]byte, wire.SaltSize)) {
		t.Fatalf("server salt % x", s)
	}
	if !bytes.Equal(serverSalt(), serverSalt()) {
		t.Fatal("the server salt changed within a process")
	}
}

func TestWeakSecret(t *testing.T) {
	for _, tc := range []struct {
		secret string
		want   string // in the warning; "" for none
	}{
		{"", "published default"},
		{DefaultSecret, "published default"},
		{"s3cret", "short (6 characters)"},
		{"fifteen chars!!", "short (15 characters)"},
		{"ünïcødé ünïcødé", "short (15 characters)"},
		{"sixteen chars!!!", ""},
		{"a long random secret: 9f8e7d6c5b4a", ""},
	} {
		got := WeakSecret(tc.secret)
		switch {
		case tc.want == "" && got != "":
			t.Errorf("WeakSecret(%q) = %q, want none", tc.secret, got)
		case tc.want != "" && (!strings.Contains(got, tc.want) || !strings.Contains(got, "PP_SECRET")):
			t.Errorf("WeakSecret(%q) = %q, want it to say %q and how to fix it", tc.secret, got, tc.want)
		}
	}
}
