// Command pybind is the pp._core extension module, built with
// -buildmode=c-shared. shim.c holds the Python method table and argument
// parsing; this file maps each call onto a core/jobserver.Server found by
// its handle. No logic lives here that a Go test of core cannot reach.
//
// Every export reports the same way (shim.h): a result >= 0 is success,
// PPGO_CLOSED means the handle is unknown or its server closed, and
// PPGO_ERROR means *errOut holds a message the shim frees.
package main

/*
#include <stdlib.h>
#include <string.h>
#include "shim.h"
*/
import "C"

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/ppgo/ppgo/core/jobserver"
	"github.com/ppgo/ppgo/core/pool"
	"github.com/ppgo/ppgo/core/sched"
	"github.com/ppgo/ppgo/core/shm"
)

func main() {}

// handles owns every live Server of this process.
var handles = newHandleTable()

// fail reports err: PPGO_CLOSED when it means the server is gone,
// PPGO_ERROR with the message in *errOut otherwise.
func fail(errOut **C.char, err error) C.longlong {
	if errors.Is(err, errNoServer) || errors.Is(err, sched.ErrClosed) {
		return C.PPGO_CLOSED
	}
	*errOut = C.CString(err.Error())
	return C.PPGO_ERROR
}

// splitNUL splits a NUL-separated blob ("a\x00b\x00") into strings.
func splitNUL(p *C.char, n C.size_t) []string {
	if n == 0 {
		return nil
	}
	blob := C.GoBytes(unsafe.Pointer(p), C.int(n))
	blob = bytes.TrimSuffix(blob, []byte{0})
	return strings.Split(string(blob), "\x00")
}

// spareFields is how many int64s describe a spare: its pid and the
// descriptors of its job pipe, result pipe and segment socket (shim.c's
// SPARE_FIELDS).
const spareFields = 4

// spareList reads n spares of spareFields int64s each.
func spareList(p *C.longlong, n C.size_t) []pool.Spare {
	if n == 0 {
		return nil
	}
	flat := unsafe.Slice((*int64)(unsafe.Pointer(p)), spareFields*int(n))
	spares := make([]pool.Spare, n)
	for i := range spares {
		s := flat[spareFields*i:]
		spares[i] = pool.Spare{PID: int(s[0]), Jobs: int(s[1]), Results: int(s[2]), Segments: int(s[3])}
	}
	return spares
}

// status maps core/sched's job status onto the one Python knows.
func status(s sched.Status) C.int {
	switch s {
	case sched.StatusDone:
		return C.PPGO_STATUS_DONE
	case sched.StatusCancelled:
		return C.PPGO_STATUS_CANCELLED
	case sched.StatusTimedOut:
		return C.PPGO_STATUS_TIMED_OUT
	default:
		return C.PPGO_STATUS_FAILED
	}
}

// ppgoNew starts a server and returns its handle (>= 1). Its first
// workers are the nSpares spares (see spareList), which
// it owns from here on, even when it fails.
//
//export ppgoNew
func ppgoNew(argv *C.char, argvLen C.size_t, env *C.char, envLen C.size_t,
	dir *C.char, workers C.int, restart C.int, secret *C.char, secretLen C.size_t,
	silenceMS C.longlong, spares *C.longlong, nSpares C.size_t, errOut **C.char) C.longlong {
	cfg := jobserver.Config{
		Pool: pool.Config{
			Argv:    splitNUL(argv, argvLen),
			Env:     splitNUL(env, envLen),
			Dir:     C.GoString(dir),
			Workers: int(workers),
			Restart: restart != 0,
			Spares:  spareList(spares, nSpares),
		},
		Secret:  C.GoStringN(secret, C.int(secretLen)),
		Silence: time.Duration(silenceMS) * time.Millisecond,
	}
	s, err := jobserver.New(cfg)
	if err != nil {
		return fail(errOut, err)
	}
	return C.longlong(handles.add(s))
}

//export ppgoRegister
func ppgoRegister(h C.longlong, key C.ulonglong, source unsafe.Pointer, sourceLen C.size_t) C.int {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	s.Register(uint64(key), C.GoBytes(source, C.int(sourceLen)))
	return 0
}

// ppgoSubmit queues a job that may run for timeoutSeconds once a worker
// starts it (0: no limit; negative: an error) and returns its id (>= 1).
// segFd, unless -1, is a sealed memfd of segSize bytes holding the
// arguments' out-of-band buffers: the core keeps a duplicate until the job
// ends, and the caller closes its own.
//
//export ppgoSubmit
func ppgoSubmit(h C.longlong, key C.ulonglong, args unsafe.Pointer, argsLen C.size_t,
	segFd C.int, segSize C.longlong, group *C.char, groupLen C.size_t, notify C.int,
	timeoutSeconds C.double, errOut **C.char) C.longlong {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	timeout, err := jobserver.TimeoutFromSeconds(float64(timeoutSeconds))
	if err != nil {
		return fail(errOut, err)
	}
	var seg *shm.Segment
	if segFd >= 0 {
		if seg, err = shm.AdoptDup(int(segFd), int64(segSize), maxSegment); err != nil {
			return fail(errOut, err)
		}
	}
	data := bytes.Clone(unsafe.Slice((*byte)(args), int(argsLen)))
	id, err := s.SubmitSegment(uint64(key), data, seg, C.GoStringN(group, C.int(groupLen)), notify != 0, timeout)
	if err != nil {
		return fail(errOut, err)
	}
	return C.longlong(id)
}

// maxSegment is no bound on the segments the client hands over: the job
// size limit (jobserver) is the one that counts.
const maxSegment = 1<<63 - 1

// askJob puts a yes-or-no question about job id to server h: 1 yes, 0
// no, PPGO_CLOSED for a closed server.
func askJob(h C.longlong, id C.ulonglong, question func(*jobserver.Server, uint64) bool) C.int {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	if question(s, uint64(id)) {
		return 1
	}
	return 0
}

// ppgoCancel cancels job id unless it has started: 1 cancelled (it ends
// with PPGO_STATUS_CANCELLED), 0 not (running, finished or unknown).
//
//export ppgoCancel
func ppgoCancel(h C.longlong, id C.ulonglong) C.int {
	return askJob(h, id, (*jobserver.Server).Cancel)
}

// ppgoWatch asks for job id to be notified when it finishes: 1 it will
// be, 0 it has finished already (or is unknown).
//
//export ppgoWatch
func ppgoWatch(h C.longlong, id C.ulonglong) C.int {
	return askJob(h, id, (*jobserver.Server).Watch)
}

// ppgoSignal asks for job id to be handed out by ppgoTakeSignalled once it
// finishes: 1 it will be, 0 it has finished already (or is unknown).
//
//export ppgoSignal
func ppgoSignal(h C.longlong, id C.ulonglong) C.int {
	return askJob(h, id, (*jobserver.Server).Signal)
}

// ppgoSignalFd has the core write one byte to fd (a non-blocking pipe the
// caller keeps open until it sets another fd, or -1, or closes the server)
// each time a signalled job finishes while none waits to be taken.
//
//export ppgoSignalFd
func ppgoSignalFd(h C.longlong, fd C.int) C.int {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	if fd < 0 {
		s.SetSignal(nil)
		return 0
	}
	wake := []byte{1}
	s.SetSignal(func() {
		// A full pipe already holds a wake-up the reader has yet to see.
		_, _ = syscall.Write(int(fd), wake)
	})
	return 0
}

// ppgoTakeSignalled fills ids with up to capacity signalled jobs that
// finished, without waiting; ids not taken stay for the next call.
//
//export ppgoTakeSignalled
func ppgoTakeSignalled(h C.longlong, ids *C.ulonglong, capacity C.int) C.int {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	return C.int(fillIDs(ids, capacity, s.TakeSignalled(int(capacity))))
}

// ppgoWait waits up to ms milliseconds for job id to finish: 1 finished,
// 0 not yet.
//
//export ppgoWait
func ppgoWait(h C.longlong, id C.ulonglong, ms C.int) C.int {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	if s.Wait(uint64(id), time.Duration(ms)*time.Millisecond) {
		return 1
	}
	return 0
}

// ppgoResult reports whether job id has a result (1) or not yet (0) and,
// if it has, its status and the size of its payload (the data, or the
// failure message), which ppgoCopyResult then copies, and, when the data's
// large buffers are in a segment, a new descriptor of it (the caller's to
// close) and its size; *segFd is -1 otherwise.
//
//export ppgoResult
func ppgoResult(h C.longlong, id C.ulonglong, st *C.int, size *C.size_t,
	segFd *C.int, segSize *C.longlong, errOut **C.char) C.int {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	r, ok := s.Result(uint64(id))
	if !ok {
		return 0
	}
	*segFd = -1
	if r.Status == sched.StatusDone && r.Segment != nil {
		fd, err := r.Segment.Dup()
		if err != nil {
			return C.int(fail(errOut, err))
		}
		*segFd, *segSize = C.int(fd), C.longlong(r.Segment.Size())
	}
	*st = status(r.Status)
	*size = C.size_t(len(payload(r)))
	return 1
}

// ppgoCopyResult copies job id's payload into dst, sized by ppgoResult.
//
//export ppgoCopyResult
func ppgoCopyResult(h C.longlong, id C.ulonglong, dst unsafe.Pointer) {
	s, err := handles.get(int64(h))
	if err != nil {
		return
	}
	if r, ok := s.Result(uint64(id)); ok {
		p := payload(r)
		copy(unsafe.Slice((*byte)(dst), len(p)), p)
	}
}

func payload(r sched.Result) []byte {
	if r.Status == sched.StatusDone {
		return r.Data
	}
	return []byte(r.Message)
}

//export ppgoRelease
func ppgoRelease(h C.longlong, id C.ulonglong) {
	if s, err := handles.get(int64(h)); err == nil {
		s.Release(uint64(id))
	}
}

//export ppgoForget
func ppgoForget(h C.longlong, id C.ulonglong) {
	if s, err := handles.get(int64(h)); err == nil {
		s.Forget(uint64(id))
	}
}

// ppgoWaitGroup waits up to ms for a group (every job when all is set):
// 1 idle, 0 not yet.
//
//export ppgoWaitGroup
func ppgoWaitGroup(h C.longlong, group *C.char, groupLen C.size_t, all C.int, ms C.int) C.int {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	g := C.GoStringN(group, C.int(groupLen))
	if s.WaitGroup(g, all != 0, time.Duration(ms)*time.Millisecond) {
		return 1
	}
	return 0
}

// ppgoNextNotified fills ids with up to capacity completed Notify jobs
// within ms and returns how many; PPGO_CLOSED once the server is closed.
//
//export ppgoNextNotified
func ppgoNextNotified(h C.longlong, ids *C.ulonglong, capacity C.int, ms C.int) C.int {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	got, ok := s.NextNotified(int(capacity), time.Duration(ms)*time.Millisecond)
	if !ok {
		return C.PPGO_CLOSED
	}
	return C.int(fillIDs(ids, capacity, got))
}

// fillIDs copies got (at most capacity IDs) into the C array ids and
// returns how many it copied.
func fillIDs(ids *C.ulonglong, capacity C.int, got []uint64) int {
	out := unsafe.Slice((*C.ulonglong)(unsafe.Pointer(ids)), int(capacity))
	n := min(len(got), len(out))
	for i, id := range got[:n] {
		out[i] = C.ulonglong(id)
	}
	return n
}

//export ppgoSetWorkers
func ppgoSetWorkers(h C.longlong, n C.int, errOut **C.char) C.int {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	if err := s.SetWorkers(int(n)); err != nil {
		return C.int(fail(errOut, err))
	}
	return 0
}

//export ppgoWorkers
func ppgoWorkers(h C.longlong) C.int {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	return C.int(s.Workers())
}

//export ppgoPending
func ppgoPending(h C.longlong) C.longlong {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	return C.longlong(s.Pending())
}

// ppgoNodes sets *nodes to a malloc'd array describing the local pool and
// every remote node (each name malloc'd too; the shim frees all) and
// returns its length.
//
//export ppgoNodes
func ppgoNodes(h C.longlong, nodes **C.struct_ppgo_node) C.longlong {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	infos := s.Nodes()
	*nodes = nil
	if len(infos) == 0 {
		return 0
	}
	size := C.size_t(unsafe.Sizeof(C.struct_ppgo_node{}))
	out := unsafe.Slice((*C.struct_ppgo_node)(C.malloc(C.size_t(len(infos))*size)), len(infos))
	for i, n := range infos {
		connected := C.int(0)
		if n.Connected {
			connected = 1
		}
		out[i] = C.struct_ppgo_node{
			name: C.CString(n.Name), workers: C.longlong(n.Workers), running: C.longlong(n.Running),
			jobs: C.longlong(n.Jobs), connected: connected, busy_seconds: C.double(n.Busy.Seconds()),
		}
	}
	*nodes = &out[0]
	return C.longlong(len(infos))
}

// ppgoConnect adds the ppserver at addr ("host:port").
//
//export ppgoConnect
func ppgoConnect(h C.longlong, addr *C.char, errOut **C.char) C.int {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	if err := s.Connect(C.GoString(addr)); err != nil {
		return C.int(fail(errOut, err))
	}
	return 0
}

// ppgoServeMetrics serves the server's Prometheus metrics and status page
// on addr until ppgoClose, and sets *bound to the malloc'd address it got.
//
//export ppgoServeMetrics
func ppgoServeMetrics(h C.longlong, addr *C.char, bound **C.char, errOut **C.char) C.int {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	got, err := s.ServeMetrics(C.GoString(addr))
	if err != nil {
		return C.int(fail(errOut, err))
	}
	*bound = C.CString(got)
	return 0
}

// ppgoDiscover starts autodiscovery for a ppservers pattern, sending probes
// to broadcast when it is not empty.
//
//export ppgoDiscover
func ppgoDiscover(h C.longlong, pattern *C.char, broadcast *C.char, errOut **C.char) C.int {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	if err := s.Discover(C.GoString(pattern), C.GoString(broadcast)); err != nil {
		return C.int(fail(errOut, err))
	}
	return 0
}

// ppgoNextEvent waits up to ms for a node event: 1 with level and a
// malloc'd message set, 0 on timeout, PPGO_CLOSED once the server is
// closed and no event is left.
//
//export ppgoNextEvent
func ppgoNextEvent(h C.longlong, ms C.int, level *C.int, msg **C.char) C.int {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	e, got, ok := s.NextEvent(time.Duration(ms) * time.Millisecond)
	switch {
	case !ok:
		return C.PPGO_CLOSED
	case !got:
		return 0
	}
	*level = C.int(e.Level)
	*msg = C.CString(e.Message)
	return 1
}

// ppgoQueued sets *ids to a malloc'd array of the jobs that no worker or
// node has taken yet and returns how many.
//
//export ppgoQueued
func ppgoQueued(h C.longlong, ids **C.ulonglong) C.longlong {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	queued := s.Queued()
	*ids = cArray(queued)
	return C.longlong(len(queued))
}

// ppgoWorkerStates sets *states to a malloc'd array of (pid, busy) pairs,
// one per local worker process, and returns how many workers.
//
//export ppgoWorkerStates
func ppgoWorkerStates(h C.longlong, states **C.ulonglong) C.longlong {
	s, err := handles.get(int64(h))
	if err != nil {
		return C.PPGO_CLOSED
	}
	workers := s.WorkerStates()
	pairs := make([]uint64, 0, 2*len(workers))
	for _, w := range workers {
		busy := uint64(0)
		if w.Busy {
			busy = 1
		}
		pairs = append(pairs, uint64(w.PID), busy)
	}
	*states = cArray(pairs)
	return C.longlong(len(workers))
}

// cArray copies vals into C memory the shim frees; nil when empty.
func cArray(vals []uint64) *C.ulonglong {
	if len(vals) == 0 {
		return nil
	}
	p := (*C.ulonglong)(C.malloc(C.size_t(len(vals)) * C.size_t(unsafe.Sizeof(C.ulonglong(0)))))
	copy(unsafe.Slice(p, len(vals)), unsafe.Slice((*C.ulonglong)(unsafe.Pointer(&vals[0])), len(vals)))
	return p
}

// ppgoGoroutines is how many goroutines the process runs: what the client's
// Go side holds, for leak checks.
//
//export ppgoGoroutines
func ppgoGoroutines() C.longlong { return C.longlong(runtime.NumGoroutine()) }

// ppgoClose stops the server: pending jobs are cancelled, workers and node
// connections closed. The handle stays valid, so the results of jobs that
// finished before can still be read, until ppgoFree.
//
//export ppgoClose
func ppgoClose(h C.longlong) {
	if s, err := handles.get(int64(h)); err == nil {
		s.Close()
	}
}

// ppgoFree closes the server if it is not yet and forgets its handle.
//
//export ppgoFree
func ppgoFree(h C.longlong) {
	if s := handles.remove(int64(h)); s != nil {
		s.Close()
	}
}
