package main

import (
	"errors"
	"sync"

	"github.com/ppgo/ppgo/core/jobserver"
)

// errNoServer is returned for a handle that was never issued or is closed.
var errNoServer = errors.New("pp: this server has been destroyed")

// handleTable maps the integer handles Python holds to live servers, so no
// Go pointer ever crosses into C.
type handleTable struct {
	mu      sync.RWMutex
	last    int64
	servers map[int64]*jobserver.Server
}

func newHandleTable() *handleTable {
	return &handleTable{servers: make(map[int64]*jobserver.Server)}
}

func (t *handleTable) add(s *jobserver.Server) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.last++
	t.servers[t.last] = s
	return t.last
}

func (t *handleTable) get(h int64) (*jobserver.Server, error) {
	t.mu.RLock()
	s := t.servers[h]
	t.mu.RUnlock()
	if s == nil {
		return nil, errNoServer
	}
	return s, nil
}

func (t *handleTable) remove(h int64) *jobserver.Server {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.servers[h]
	delete(t.servers, h)
	return s
}
