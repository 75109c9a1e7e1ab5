// Command schedsim measures the scheduler (core/sched) on simulated
// clusters far larger than a test machine: 1 to 1 000 nodes of 2 to 64
// workers, each a fake node whose jobs take no time, so that what is
// measured is what dispatching a job costs and how it grows with the
// cluster. `make bench` runs it as its sched_sim row (bench/workloads.py);
// docs/PERFORMANCE.md has the model and a run's curve.
//
//	go run ./tools/schedsim                          # a table on stdout
//	go run ./tools/schedsim -nodes 1,1000 -workers 64 -jobs 500000
//	go run ./tools/schedsim -json out.json           # what the bench reads
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Result is a whole run: every shape in every mode, and the flatness the
// issue asks for.
type Result struct {
	GoMaxProcs int       `json:"gomaxprocs"`
	Runs       []Figures `json:"runs"`
	// Growth is, per mode and worker count, the CPU time per job on the
	// most nodes over that on the fewest: 1 is perfectly flat.
	Growth []Growth `json:"growth"`
	// WorstGrowth is the largest Growth of the saturated step mode: the
	// scheduler alone, with as many jobs out on every shape, so that only
	// the number of nodes changes. The goal is at most 1.5.
	WorstGrowth float64 `json:"worst_growth"`
}

// Growth compares the CPU time per job of the largest and smallest node
// counts for one mode and worker count.
type Growth struct {
	Mode      string  `json:"mode"`
	Workers   int     `json:"workers"`
	FromNodes int     `json:"from_nodes"`
	ToNodes   int     `json:"to_nodes"`
	Ratio     float64 `json:"ratio"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "schedsim:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("schedsim", flag.ContinueOnError)
	nodesFlag := fs.String("nodes", "1,10,100,1000", "comma-separated node counts")
	workersFlag := fs.String("workers", "2,8,64", "comma-separated workers per node")
	jobs := fs.Int("jobs", 200_000, "jobs measured per run (at least the cluster's slots)")
	only := fs.String("modes", "", "run only the modes whose names contain this (step, goroutines, remote)")
	jsonOut := fs.String("json", "", "write the result as JSON to this file instead of a table")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the runs to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	nodeCounts, err := counts("-nodes", *nodesFlag)
	if err != nil {
		return err
	}
	workerCounts, err := counts("-workers", *workersFlag)
	if err != nil {
		return err
	}
	if *jobs < 1 {
		return fmt.Errorf("-jobs %d: want at least 1", *jobs)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("start CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	res, err := simulate(nodeCounts, workerCounts, *jobs, *only)
	if err != nil {
		return err
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(res, "", " ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", *jsonOut, err)
		}
		return nil
	}
	return printTable(stdout, res)
}

// counts parses a flag's comma-separated list of positive integers.
func counts(name, text string) ([]int, error) {
	var out []int
	for _, field := range strings.Split(text, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s %q: %q is not a positive integer", name, text, field)
		}
		out = append(out, n)
	}
	return out, nil
}

// outPerSlot is how many jobs the client keeps out (submitted, not yet
// collected) per slot of the largest cluster in a saturated run: every
// slot busy and twice as many jobs queued, so each slot a job frees is
// filled from the queue at once.
const outPerSlot = 3

// A mode is one way of driving the scheduler.
type mode struct {
	name string
	// goal marks the mode whose growth is the goal (WorstGrowth).
	goal bool
	// out is how many jobs the client keeps out on sh.
	out func(sh Shape) int
	run func(sh Shape, jobs, out int, name string) (Figures, error)
}

// modes are the ways simulate drives the scheduler. The saturated modes
// keep the same number of jobs out on every shape, so the scheduler's
// memory is the same size on each and what changes is only the number of
// nodes and slots; the half-busy mode's jobs out grow with the slots.
func modes(largest Shape) []mode {
	fixed := func(Shape) int { return outPerSlot * largest.Slots() }
	half := func(sh Shape) int { return max(sh.Slots()/2, 1) }
	return []mode{
		{name: "step, saturated", goal: true, out: fixed, run: runStep},
		{name: "step, half the slots busy", out: half, run: runStep},
		{name: "goroutines, saturated", out: fixed, run: runGoroutines},
		{name: "remote links, saturated", out: fixed, run: runRemote},
	}
}

// simulate runs every shape in every mode whose name contains only.
func simulate(nodeCounts, workerCounts []int, jobs int, only string) (Result, error) {
	res := Result{GoMaxProcs: runtime.GOMAXPROCS(0)}
	largest := Shape{Nodes: slices.Max(nodeCounts), Workers: slices.Max(workerCounts)}
	ran := false
	for _, m := range modes(largest) {
		if !strings.Contains(m.name, only) {
			continue
		}
		ran = true
		for _, w := range workerCounts {
			var first, last Figures
			for i, nodes := range nodeCounts {
				sh := Shape{Nodes: nodes, Workers: w}
				f, err := m.run(sh, max(jobs, sh.Slots()), m.out(sh), m.name)
				if err != nil {
					return Result{}, fmt.Errorf("%s, %v: %w", m.name, sh, err)
				}
				res.Runs = append(res.Runs, f)
				if i == 0 {
					first = f
				}
				last = f
			}
			g := Growth{Mode: m.name, Workers: w, FromNodes: first.Nodes, ToNodes: last.Nodes,
				Ratio: last.CPUNsPerJob / first.CPUNsPerJob}
			res.Growth = append(res.Growth, g)
			if m.goal {
				res.WorstGrowth = max(res.WorstGrowth, g.Ratio)
			}
		}
	}
	if !ran {
		return Result{}, fmt.Errorf("-modes %q: no mode's name contains it", only)
	}
	return res, nil
}

func printTable(w io.Writer, res Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "mode\tnodes\tworkers\tjobs\tjobs/s\tCPU ns/job\tallocs/job\tshare min–max\t\n")
	for _, f := range res.Runs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.0f\t%.0f\t%.1f\t%.2f–%.2f\t\n", f.Mode, f.Nodes, f.Workers,
			f.Jobs, f.JobsPerSec, f.CPUNsPerJob, f.AllocsPerJob, f.MinShare, f.MaxShare)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nCPU per job, most nodes / fewest (GOMAXPROCS %d):\n", res.GoMaxProcs)
	for _, g := range res.Growth {
		fmt.Fprintf(w, "  %-26s %2d workers: %d → %d nodes %.2f×\n", g.Mode, g.Workers, g.FromNodes, g.ToNodes, g.Ratio)
	}
	_, err := fmt.Fprintf(w, "worst of step, saturated: %.2f× (goal: at most 1.5×)\n", res.WorstGrowth)
	return err
}
