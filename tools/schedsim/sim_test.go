package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every mode runs every job to done through the real scheduler (collect
// fails on any other result), and the step mode, whose nodes finish jobs
// in dispatch order, keep equal nodes evenly busy when saturated.
func TestSimulateRunsEveryModeToTheEnd(t *testing.T) {
	res, err := simulate([]int{1, 7}, []int{3}, 2000, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := len(modes(Shape{})) * 2; len(res.Runs) != want {
		t.Fatalf("%d runs, want %d", len(res.Runs), want)
	}
	for _, f := range res.Runs {
		if f.Jobs != 2000 || f.JobsPerSec <= 0 || f.CPUNsPerJob <= 0 {
			t.Errorf("%s on %v: figures %+v", f.Mode, f.Shape, f)
		}
		if f.Mode == "step, saturated" && (f.MinShare < 0.99 || f.MaxShare > 1.01) {
			t.Errorf("%s on %v: node shares %.3f–%.3f, want even", f.Mode, f.Shape, f.MinShare, f.MaxShare)
		}
	}
	if len(res.Growth) != len(modes(Shape{})) || res.WorstGrowth <= 0 {
		t.Errorf("growth %+v, worst %v", res.Growth, res.WorstGrowth)
	}
}

func TestJSONOutput(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sim.json")
	if err := run([]string{"-nodes", "2", "-workers", "2", "-jobs", "100", "-json", out}, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != len(modes(Shape{})) || res.Runs[0].Nodes != 2 {
		t.Fatalf("result %+v", res)
	}
}

func TestBadFlagsSayWhatIsWrong(t *testing.T) {
	for _, args := range [][]string{
		{"-nodes", "1,x"},
		{"-workers", "0"},
		{"-jobs", "0"},
		{"-modes", "nosuchmode"},
	} {
		err := run(args, nil)
		if err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: error %v, want one naming %s", args, err, args[0])
		}
	}
}
