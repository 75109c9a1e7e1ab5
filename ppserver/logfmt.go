package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// loggerName is what %(name)s prints: legacy ppserver logs as "pp".
const loggerName = "pp"

// logFields are the fields of a Python logging format that -f supports.
var logFields = []string{"asctime", "created", "levelname", "levelno", "message", "msecs", "name", "process"}

// logPiece is a literal or one %(field)<spec> of a log format.
type logPiece struct {
	literal string
	field   string
	verb    string // a Go fmt verb with the format's flags, width and precision
}

// parseLogFormat compiles a Python logging format string (the -f value,
// "%(asctime)s - %(levelname)s - %(message)s") into pieces. Each field
// may carry printf flags, width and precision (%(levelname)-8s,
// %(msecs)03d); %% is a literal %.
func parseLogFormat(format string) ([]logPiece, error) {
	var pieces []logPiece
	lit := strings.Builder{}
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		if i+1 < len(format) && format[i+1] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		if i+1 >= len(format) || format[i+1] != '(' {
			return nil, fmt.Errorf("log format %q: %% must start %%(field)s or be doubled (%%%%)", format)
		}
		end := strings.IndexByte(format[i:], ')')
		if end < 0 {
			return nil, fmt.Errorf("log format %q: unclosed %%(", format)
		}
		field := format[i+2 : i+end]
		if !slices.Contains(logFields, field) {
			return nil, fmt.Errorf("log format %q: field %%(%s) is not supported (supported: %s)",
				format, field, strings.Join(logFields, ", "))
		}
		j := i + end + 1
		spec := j
		for j < len(format) && strings.IndexByte("#0- +.0123456789", format[j]) >= 0 {
			j++
		}
		if j >= len(format) || strings.IndexByte("sdifeEgGr", format[j]) < 0 {
			return nil, fmt.Errorf("log format %q: %%(%s) needs a conversion such as s or d", format, field)
		}
		verb := format[j]
		switch verb {
		case 'i':
			verb = 'd'
		case 'r':
			verb = 's'
		}
		if lit.Len() > 0 {
			pieces = append(pieces, logPiece{literal: lit.String()})
			lit.Reset()
		}
		pieces = append(pieces, logPiece{field: field, verb: "%" + format[spec:j] + string(verb)})
		i = j
	}
	if lit.Len() > 0 {
		pieces = append(pieces, logPiece{literal: lit.String()})
	}
	return pieces, nil
}

// pyLevel is the Python logging name and number of a slog level.
func pyLevel(l slog.Level) (string, int) {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG", 10
	case l < slog.LevelWarn:
		return "INFO", 20
	case l < slog.LevelError:
		return "WARNING", 30
	case l < slog.LevelError+4:
		return "ERROR", 40
	}
	return "CRITICAL", 50
}

// pyHandler is a slog.Handler that writes each record as one line in a
// Python logging format, so log parsers written for legacy ppserver keep
// working. A record's attributes follow its message as key=value pairs.
type pyHandler struct {
	out    *lockedWriter
	level  slog.Leveler
	pieces []logPiece
	attrs  []byte // preformatted " key=value" pairs from WithAttrs
	group  string // key prefix from WithGroup, with a trailing dot
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func newPyHandler(w io.Writer, format string, level slog.Leveler) (*pyHandler, error) {
	pieces, err := parseLogFormat(format)
	if err != nil {
		return nil, err
	}
	return &pyHandler{out: &lockedWriter{w: w}, level: level, pieces: pieces}, nil
}

func (h *pyHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *pyHandler) Handle(_ context.Context, r slog.Record) error {
	msg := bytes.NewBufferString(r.Message)
	msg.Write(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(msg, h.group, a)
		return true
	})
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	name, no := pyLevel(r.Level)
	var line bytes.Buffer
	for _, p := range h.pieces {
		if p.field == "" {
			line.WriteString(p.literal)
			continue
		}
		var v any
		switch p.field {
		case "asctime":
			// Python's default: "2006-01-02 15:04:05,000".
			v = t.Format("2006-01-02 15:04:05") + fmt.Sprintf(",%03d", t.Nanosecond()/1e6)
		case "created":
			v = float64(t.UnixNano()) / 1e9
		case "msecs":
			v = float64(t.Nanosecond()) / 1e6
		case "levelname":
			v = name
		case "levelno":
			v = no
		case "message":
			v = msg.String()
		case "name":
			v = loggerName
		case "process":
			v = os.Getpid()
		}
		line.WriteString(formatValue(p.verb, v))
	}
	line.WriteByte('\n')
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	_, err := h.out.w.Write(line.Bytes())
	return err
}

// formatValue prints v with a printf verb the way Python's % operator
// would: %d of a float truncates, %f of an int is a float, %s of anything
// is its text.
func formatValue(verb string, v any) string {
	switch verb[len(verb)-1] {
	case 'd':
		switch x := v.(type) {
		case float64:
			v = int64(x)
		case string:
			v = 0
		}
	case 'f', 'e', 'E', 'g', 'G':
		switch x := v.(type) {
		case int:
			v = float64(x)
		case string:
			v = 0.0
		}
	case 's':
		switch x := v.(type) {
		case float64:
			v = strconv.FormatFloat(x, 'f', -1, 64)
		case int:
			v = strconv.Itoa(x)
		}
	}
	return fmt.Sprintf(verb, v)
}

func appendAttr(b *bytes.Buffer, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			appendAttr(b, p, g)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(prefix)
	b.WriteString(a.Key)
	b.WriteByte('=')
	s := a.Value.String()
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		s = strconv.Quote(s)
	}
	b.WriteString(s)
}

func (h *pyHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	b := bytes.NewBuffer(slices.Clone(h.attrs))
	for _, a := range attrs {
		appendAttr(b, h.group, a)
	}
	h2.attrs = b.Bytes()
	return &h2
}

func (h *pyHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.group += name + "."
	return &h2
}
