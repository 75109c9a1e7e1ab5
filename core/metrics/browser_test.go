package metrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ppgo/ppgo/core/internal/fakeworker"
	"github.com/ppgo/ppgo/core/jobserver"
	"github.com/ppgo/ppgo/core/metrics"
	"github.com/ppgo/ppgo/core/sched"
)

// browserDeadline bounds each wait on the browser: starting Chromium and
// a page's next poll take seconds on a loaded machine, not tens.
const browserDeadline = time.Minute

// chromiumNames are the names Chromium goes by on PATH.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

// startBrowser starts a headless Chromium for the test, or skips it
// where there is none.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Skipf("no Chromium on PATH (looked for %s): the status page is tested in a real browser only",
			strings.Join(chromiumNames, ", "))
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		// Chromium refuses to run as root with its sandbox on, and test
		// containers run as root; the page is our own, on loopback.
		chromedp.NoSandbox,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(900, 700),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// pageView is what the status page shows: the figures at the top, each
// table row's cells by field, and the chart's line.
type pageView struct {
	Figures map[string]string            `json:"figures"`
	Rows    map[string]map[string]string `json:"rows"`
	Points  string                       `json:"points"`
}

const readPage = `(() => {
  const figures = {};
  for (const id of ["done", "failed", "queued", "running", "workers", "rate"])
    figures[id] = document.getElementById(id).textContent;
  const rows = {};
  for (const tr of document.querySelectorAll("#rows tr")) {
    rows[tr.dataset.name] = {};
    for (const td of tr.querySelectorAll("td")) rows[tr.dataset.name][td.dataset.field] = td.textContent;
  }
  return {figures, rows, points: document.getElementById("chart-line").getAttribute("points")};
})()`

func view(t *testing.T, ctx context.Context) pageView {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[pageView](readPage))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	return v
}

// waitPage waits until the page shows what ok wants, and returns it.
func waitPage(t *testing.T, ctx context.Context, what string, ok func(pageView) bool) pageView {
	t.Helper()
	var v pageView
	fakeworker.Eventually(t, browserDeadline, what, func() bool {
		v = view(t, ctx)
		return ok(v)
	})
	return v
}

// drawn reports whether the chart's line rises off its baseline: a rate
// above zero is drawn.
func drawn(points string) bool {
	for _, p := range strings.Fields(points) {
		_, y, _ := strings.Cut(p, ",")
		if v, err := strconv.ParseFloat(y, 64); err == nil && v < 140 {
			return true
		}
	}
	return false
}

// statusJSON fetches what the page polls.
func statusJSON(t *testing.T, addr string, status any) {
	t.Helper()
	_, body := get(t, "http://"+addr+"/status.json")
	doc := struct {
		Status any `json:"status"`
	}{status}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("status.json: %v\n%s", err, body)
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// wave runs n jobs on s at once and waits for them.
func wave(t *testing.T, s *jobserver.Server, n int) {
	t.Helper()
	ids := make([]uint64, n)
	for i := range ids {
		id, err := s.Submit(1, []byte("sleep:20ms"), "", false, 0)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	for _, id := range ids {
		if !s.Wait(id, deadline) {
			t.Fatalf("job %d not finished within %v", id, deadline)
		}
		if r, _ := s.Result(id); r.Status != sched.StatusDone {
			t.Fatalf("job %d: status %d (%s)", id, r.Status, r.Message)
		}
	}
}

// TestStatusPageInBrowser loads both status pages in headless Chromium
// while jobs run in waves, and checks that each page's figures follow
// the jobs as they finish, without a reload, and agree with status.json.
// The screenshots are saved as test artifacts (go test -artifacts).
func TestStatusPageInBrowser(t *testing.T) {
	ctx := startBrowser(t)
	node, nodeAddr := startNode(t, 2, secret)
	nodePage, err := metrics.ServeNode("127.0.0.1:0", node, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nodePage.Close)
	s := newClient(t, 1, secret, nodeAddr)
	waitConnected(t, s)
	clientPage, err := s.ServeMetrics("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+clientPage+"/")); err != nil {
		t.Fatalf("loading the client's page: %v", err)
	}
	const waveSize = 12
	for done := waveSize; done <= 3*waveSize; done += waveSize {
		wave(t, s, waveSize)
		waitPage(t, ctx, fmt.Sprintf("the client's page to show %d jobs done", done), func(v pageView) bool {
			return v.Figures["done"] == strconv.Itoa(done)
		})
	}
	// Nothing runs now: the page must come to show exactly what the
	// status says, node by node.
	var status metrics.Client
	v := waitPage(t, ctx, "the client's page to match status.json", func(v pageView) bool {
		statusJSON(t, clientPage, &status)
		if len(v.Rows) != len(status.Nodes) || !drawn(v.Points) {
			return false
		}
		for _, n := range status.Nodes {
			want := map[string]string{"name": n.Name, "workers": strconv.Itoa(n.Workers),
				"capacity": strconv.Itoa(n.Capacity), "running": strconv.Itoa(n.Running),
				"done": strconv.FormatUint(n.Done, 10), "failed": strconv.FormatUint(n.Failed, 10)}
			for field, value := range want {
				if v.Rows[n.Name][field] != value {
					return false
				}
			}
		}
		return true
	})
	if v.Rows[nodeAddr]["done"] == "0" || v.Rows["local"]["workers"] != "1" || v.Figures["workers"] != "3" {
		t.Errorf("client's page: %+v; want the ppserver to have done jobs, and 1 + 2 workers", v)
	}
	screenshot(t, ctx, "client.png")

	// The ppserver's page, loaded before a last wave: it shows its share.
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+nodePage.Addr()+"/")); err != nil {
		t.Fatalf("loading the ppserver's page: %v", err)
	}
	before := strconv.FormatUint(node.Stats().Jobs, 10)
	waitPage(t, ctx, "the ppserver's page to show "+before+" jobs done", func(v pageView) bool {
		return v.Figures["done"] == before
	})
	wave(t, s, waveSize)
	after := strconv.FormatUint(node.Stats().Jobs, 10)
	if after == before {
		t.Fatalf("the ppserver ran none of the last wave's jobs (%s done before and after)", before)
	}
	clients := node.Clients()
	if len(clients) != 1 {
		t.Fatalf("%d clients, want 1", len(clients))
	}
	v = waitPage(t, ctx, "the ppserver's page to show "+after+" jobs done, its client too", func(v pageView) bool {
		return v.Figures["done"] == after && v.Rows[clients[0].Addr]["done"] == after && drawn(v.Points)
	})
	if v.Figures["workers"] != "2 (0 busy)" || v.Figures["failed"] != "0" {
		t.Errorf("ppserver's page: %+v; want 2 idle workers and no failure", v)
	}
	screenshot(t, ctx, "ppserver.png")
}
