package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPyHandlerFormats(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 89_000_000, time.Local)
	pid := os.Getpid()
	tests := []struct {
		format string
		level  slog.Level
		want   string
	}{
		{defaultLogFormat, slog.LevelInfo, "2026-03-04 05:06:07,089 - pp - INFO - hello client=1.2.3.4:5"},
		{"%(levelname)s:%(name)s:%(message)s", slog.LevelWarn, "WARNING:pp:hello client=1.2.3.4:5"},
		{"[%(levelname)-8s] %(message)s", slog.LevelDebug, "[DEBUG   ] hello client=1.2.3.4:5"},
		{"%(levelno)d %(levelno)s %(levelname)s", slog.LevelError, "40 40 ERROR"},
		{"%(msecs)03d|%(msecs).1f", slog.LevelInfo, "089|89.0"},
		{"%(process)d", slog.LevelInfo, fmt.Sprint(pid)},
		{"%(created)f", slog.LevelInfo, fmt.Sprintf("%f", float64(at.UnixNano())/1e9)},
		{"100%% %(message)r", slog.LevelInfo, "100% hello client=1.2.3.4:5"},
		{"plain text", slog.LevelInfo, "plain text"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			h, err := newPyHandler(&buf, tt.format, slog.LevelDebug)
			if err != nil {
				t.Fatal(err)
			}
			r := slog.NewRecord(at, tt.level, "hello", 0)
			r.AddAttrs(slog.String("client", "1.2.3.4:5"))
			if err := h.Handle(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			if got := buf.String(); got != tt.want+"\n" {
				t.Errorf("got %q, want %q", got, tt.want+"\n")
			}
		})
	}
}

func TestPyHandlerAttrsAndLevels(t *testing.T) {
	var buf bytes.Buffer
	h, err := newPyHandler(&buf, "%(levelname)s %(message)s", slog.LevelInfo)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(h).With("node", "a b").WithGroup("job")
	log.Debug("hidden")
	log.Info("done", "id", 7, slog.Group("t", "ms", 1.5), "err", "")
	log.Error("failed", "err", fmt.Errorf(`say "no"`))
	want := `INFO done node="a b" job.id=7 job.t.ms=1.5 job.err=""` + "\n" +
		`ERROR failed node="a b" job.err="say \"no\""` + "\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestParseLogFormatErrors(t *testing.T) {
	for _, f := range []string{"%(nope)s", "%(message)", "%(message", "%d", "50%", "%(message)q"} {
		if _, err := parseLogFormat(f); err == nil {
			t.Errorf("parseLogFormat(%q) succeeded", f)
		} else if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not quote the format %q", err, f)
		}
	}
}
