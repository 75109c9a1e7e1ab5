package remote

import (
	"syscall"
	"testing"
	"time"

	"github.com/ppgo/ppgo/core/sched"
)

// BenchmarkTinyJobs is the remote_tiny row's Go path in one process: a
// scheduler with a remote Node, a real serve.Server on loopback, and its
// fake workers (processes of their own, whose CPU time is not counted).
// All jobs are submitted, then waited for, as the row does; cpu-ns/job is
// this process's CPU time per job, client and node sides together, which
// is steadier than the wall time on a busy machine.
func BenchmarkTinyJobs(b *testing.B) {
	_, addr := startServe(b, 2, nil)
	s := sched.New(sched.Config{})
	defer s.Close()
	n := New(Config{Addr: addr, Secret: secret, Redial: true}, s)
	s.AddNode(n, 0)
	n.Start()
	defer n.Close()
	f := &sched.Func{Key: 1, Source: []byte("src")}
	run := func(jobs int) {
		for range jobs {
			id, err := s.Submit(&sched.Job{Func: f, Args: []byte("x")})
			if err != nil {
				b.Fatal(err)
			}
			s.Forget(id)
		}
		if !s.WaitGroup("", true, time.Minute) {
			b.Fatalf("%d jobs still pending after a minute", s.Pending())
		}
	}
	run(1000) // connected, and the node's window opened for short jobs
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	run(b.N)
	b.ReportMetric(float64((cpuTime()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/job")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
