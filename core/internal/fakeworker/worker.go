// Package fakeworker is a stand-in worker interpreter for the Go tests that
// run a pool (core/pool, core/jobserver, core/remote, core/serve): a test
// binary re-executes itself as one (Hub.Command says how). It
// speaks the pipe protocol from its own encoding (as worker.py does, with
// struct), not with core/pool's frame.go, so a framing bug on the Go side
// cannot cancel itself out.
package fakeworker

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ModeEnv selects the mode: "echo" serves jobs; "record" serves them as
// echo does, after telling the hub "ran ID PID ARGS" for each job it
// reads, and waiting for the hub to take note, so a test knows every job
// a worker was ever handed (Hub.Ran); "slow-start" serves them as echo
// does once the hub answers its start (Event.Release), so a test decides
// when a worker is ready; "exit-before-ready" exits with code 7 before
// sending READY; "hold" is the orphan an "orphan:" job leaves behind
// (below). A job's args steer the echo worker:
//
//	exit:N        exit with code N on reading the job
//	kill          SIGKILL itself on reading the job
//	sleep:D       sleep for the time.Duration D, then reply
//	pad:N         reply at once with N bytes of padding (Reply.Pad): a
//	              large result, reported as a long job so the pool's depth
//	              holds
//	block         tell the hub "block ID PID" and reply once the hub answers
//	hang          never reply: a job that runs until its worker is killed
//	wrong-id      reply with a job id the pool did not send
//	bad-kind      reply with frame kind 99
//	orphan:N      start a child that inherits both pipes and outlives the
//	              worker (it tells the hub "hold PID" and stays until the
//	              hub lets it go or the test ends), then exit with code N;
//	              orphan:kill SIGKILLs itself instead
//	last:N[:PAD]  reply, then exit with code N at once (PAD makes the
//	              reply as long as wanted)
//	orphan-last:N[:PAD]  the same, after starting an orphan as above
//	junk:TEXT     write TEXT to the results pipe, then reply as usual: a
//	              job that wrote to fd 4
//	close-results close the results pipe and serve on, unable to reply
//	frame:K:N     send, instead of a reply, a header of kind K for this job
//	              announcing an N-byte body, and no body; then serve on
//	              (so only the header can give the worker away)
//	segment:HOW   reply in a RESULT frame that announces a segment, after
//	              sending on the segment socket (fd 5) what HOW says: ok (a
//	              sealed memfd holding "segment"), none (nothing), nofd (a
//	              message without a descriptor), pipe (a pipe), unsealed (a
//	              memfd without seals), short (a sealed memfd shorter than
//	              announced), two (two descriptors), huge (a size over 1 GiB)
//	anything      reply at once
//
// Every reply is a RESULT frame whose body is a Reply in JSON and whose
// aux (the job's run time) is Elapsed(job id, args).
const (
	ModeEnv = "PPGO_FAKE_WORKER"
	// HubEnv is the unix socket of the test's hub. At start the worker
	// says "start PID UNIXNANO" there; in exit-before-ready mode it then
	// waits for the hub to answer before it exits.
	HubEnv = "PPGO_FAKE_HUB"

	ExitBeforeReadyCode = 7
)

type Reply struct {
	PID       int    `json:"pid"`
	ID        uint64 `json:"id"`
	Key       uint64 `json:"key"`
	HasSource bool   `json:"has_source"`
	Source    string `json:"source"`
	Args      string `json:"args"`
	Pad       string `json:"pad,omitempty"`
	// Segment is what the job's segment held, when one came with it.
	Segment string `json:"segment,omitempty"`
}

// Elapsed is the run time a fake worker reports for job id with args: a
// few microseconds, or over a second for "block", "sleep:" and "pad:"
// jobs, so that a pool sees jobs that wait (or make large results) as
// long ones (and hands them out one at a time) and the rest as short ones.
func Elapsed(id uint64, args string) time.Duration {
	if args == "block" || strings.HasPrefix(args, "sleep:") || strings.HasPrefix(args, "pad:") {
		return time.Second + time.Duration(id)
	}
	return time.Duration(id*1000 + 7)
}

// RunIfWorker turns the calling test binary into a fake worker, and exits,
// when it was started as one (ModeEnv set); call it first in TestMain.
func RunIfWorker() {
	if mode := os.Getenv(ModeEnv); mode != "" {
		os.Exit(run(mode))
	}
}

func run(mode string) int {
	hub := os.Getenv(HubEnv)
	if mode == "hold" {
		return hold(hub)
	}
	if hub != "" {
		c, err := net.Dial("unix", hub)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fake worker: hub:", err)
			return 1
		}
		fmt.Fprintf(c, "start %d %d\n", os.Getpid(), time.Now().UnixNano())
		if mode == "exit-before-ready" || mode == "slow-start" {
			var b [1]byte
			c.Read(b[:])
		}
		c.Close()
	}
	if mode == "exit-before-ready" {
		return ExitBeforeReadyCode
	}

	jobsFile := os.NewFile(3, "jobs")
	jobs := bufio.NewReader(jobsFile)
	results := os.NewFile(4, "results")
	segments := 5
	send := func(kind byte, id, aux uint64, body []byte) {
		frame := make([]byte, 21+len(body))
		binary.LittleEndian.PutUint32(frame[0:], uint32(17+len(body)))
		frame[4] = kind
		binary.LittleEndian.PutUint64(frame[5:], id)
		binary.LittleEndian.PutUint64(frame[13:], aux)
		copy(frame[21:], body)
		if _, err := results.Write(frame); err != nil {
			os.Exit(1)
		}
	}
	send(16, uint64(os.Getpid()), 0, nil)
	for {
		var hdr [21]byte
		if _, err := io.ReadFull(jobs, hdr[:]); err != nil {
			return 0 // end of input: the pool retired this worker
		}
		n := binary.LittleEndian.Uint32(hdr[0:])
		kind := hdr[4]
		r := Reply{
			PID: os.Getpid(),
			ID:  binary.LittleEndian.Uint64(hdr[5:]),
			Key: binary.LittleEndian.Uint64(hdr[13:]),
		}
		body := make([]byte, n-17)
		if _, err := io.ReadFull(jobs, body); err != nil {
			return 0
		}
		if kind&withSegment != 0 {
			kind &^= withSegment
			seg, err := receiveSegment(segments)
			if err != nil {
				fmt.Fprintln(os.Stderr, "fake worker: segment:", err)
				return 3
			}
			r.Segment = seg
		}
		switch kind {
		case 1:
			r.Args = string(body)
		case 2:
			sl := binary.LittleEndian.Uint32(body)
			r.HasSource = true
			r.Source = string(body[4 : 4+sl])
			r.Args = string(body[4+sl:])
		default:
			fmt.Fprintln(os.Stderr, "fake worker: unknown frame kind", kind)
			return 2
		}
		if mode == "record" {
			if err := tell(hub, fmt.Sprintf("ran %d %d %s", r.ID, r.PID, r.Args)); err != nil {
				return 1
			}
		}
		replyKind, replyID := byte(17), r.ID
		cmd, arg, _ := strings.Cut(r.Args, ":")
		switch cmd {
		case "exit":
			code, _ := strconv.Atoi(arg)
			return code
		case "kill":
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		case "pad":
			n, _ := strconv.Atoi(arg)
			r.Pad = strings.Repeat("x", n)
		case "sleep":
			d, _ := time.ParseDuration(arg)
			time.Sleep(d)
		case "block":
			if err := tell(hub, fmt.Sprintf("block %d %d", r.ID, r.PID)); err != nil {
				return 1
			}
		case "hang":
			for {
				time.Sleep(time.Hour) // not select{}: the runtime would call that a deadlock and exit
			}
		case "wrong-id":
			replyID += 1000
		case "bad-kind":
			replyKind = 99
		case "orphan":
			if err := orphan(jobsFile, results); err != nil {
				fmt.Fprintln(os.Stderr, "fake worker: orphan:", err)
				return 1
			}
			if arg == "kill" {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
			code, _ := strconv.Atoi(arg)
			return code
		case "last", "orphan-last":
			if cmd == "orphan-last" {
				if err := orphan(jobsFile, results); err != nil {
					fmt.Fprintln(os.Stderr, "fake worker: orphan:", err)
					return 1
				}
			}
			data, _ := json.Marshal(r)
			send(replyKind, replyID, uint64(Elapsed(r.ID, r.Args)), data)
			n, _, _ := strings.Cut(arg, ":")
			code, _ := strconv.Atoi(n)
			return code
		case "junk":
			if _, err := results.Write([]byte(arg)); err != nil {
				return 1
			}
		case "close-results":
			results.Close()
			continue
		case "segment":
			if err := sendSegment(segments, arg); err != nil {
				fmt.Fprintln(os.Stderr, "fake worker: segment:", err)
				return 1
			}
			replyKind |= withSegment
		case "frame":
			k, n, _ := strings.Cut(arg, ":")
			kind, _ := strconv.ParseUint(k, 10, 8)
			size, _ := strconv.ParseUint(n, 10, 32)
			hdr := binary.LittleEndian.AppendUint32(nil, uint32(17+size))
			hdr = append(hdr, byte(kind))
			hdr = binary.LittleEndian.AppendUint64(hdr, r.ID)
			hdr = binary.LittleEndian.AppendUint64(hdr, 0)
			if _, err := results.Write(hdr); err != nil {
				return 1
			}
			continue
		}
		data, _ := json.Marshal(r)
		send(replyKind, replyID, uint64(Elapsed(r.ID, r.Args)), data)
	}
}

// tell sends the hub one line and waits for its answer (or for the hub to
// go away, when the test ends).
func tell(hub, line string) error {
	c, err := net.Dial("unix", hub)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintln(c, line)
	var b [1]byte
	c.Read(b[:])
	return nil
}

// orphan starts this binary in "hold" mode with the worker's two pipes as
// its fds 3 and 4, as a job's forked child would hold them: it keeps
// both pipes open after the worker is gone.
func orphan(jobs, results *os.File) error {
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), ModeEnv+"=hold")
	cmd.ExtraFiles = []*os.File{jobs, results}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// Its own process group: a test's Ctrl-C or cleanup of the worker's
	// group must not take the orphan along before the test has seen it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd.Start()
}

// hold is the orphan's life: say "hold PID" to the hub, then wait until the
// hub answers or goes away (the test ended).
func hold(hub string) int {
	c, err := net.Dial("unix", hub)
	if err != nil {
		return 1
	}
	fmt.Fprintf(c, "hold %d\n", os.Getpid())
	var b [1]byte
	c.Read(b[:])
	return 0
}

// withSegment is the frame-kind flag that says a segment goes with the
// frame, on the segment socket.
const withSegment = 0x80

// receiveSegment reads the segment the pool sent ahead of a job frame and
// returns its contents.
func receiveSegment(sock int) (string, error) {
	msg := make([]byte, 8)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(sock, msg, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return "", err
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || n != 8 || len(cmsgs) != 1 {
		return "", fmt.Errorf("a malformed segment message (%d bytes, %d control messages, %v)", n, len(cmsgs), err)
	}
	fds, err := unix.ParseUnixRights(&cmsgs[0])
	if err != nil || len(fds) != 1 {
		return "", fmt.Errorf("a segment message with %d descriptors (%v)", len(fds), err)
	}
	f := os.NewFile(uintptr(fds[0]), "segment")
	defer f.Close()
	b := make([]byte, binary.LittleEndian.Uint64(msg))
	if _, err := f.ReadAt(b, 0); err != nil {
		return "", err
	}
	return string(b), nil
}

// sendSegment sends, ahead of a RESULT frame that announces a segment,
// what how says (see the segment:HOW job).
func sendSegment(sock int, how string) error {
	const contents = "segment"
	size := uint64(len(contents))
	var fds []int
	memfd := func(seal bool, data string) (int, error) {
		fd, err := unix.MemfdCreate("ppgo", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			return -1, err
		}
		if _, err := unix.Pwrite(fd, []byte(data), 0); err != nil {
			return -1, err
		}
		if seal {
			_, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE)
		}
		return fd, err
	}
	switch how {
	case "none":
		return nil
	case "nofd", "huge":
		if how == "huge" {
			size = 1<<30 + 1
			fd, err := memfd(true, contents)
			if err != nil {
				return err
			}
			fds = []int{fd}
		}
	case "pipe":
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			return err
		}
		fds = []int{p[0]}
	case "ok", "unsealed", "short", "two":
		fd, err := memfd(how != "unsealed", contents)
		if err != nil {
			return err
		}
		fds = []int{fd}
		if how == "short" {
			size = 100
		}
		if how == "two" {
			fds = append(fds, fd)
		}
	default:
		return fmt.Errorf("unknown segment job %q", how)
	}
	msg := binary.LittleEndian.AppendUint64(nil, size)
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	return unix.Sendmsg(sock, msg, oob, nil, 0)
}
