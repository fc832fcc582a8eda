//go:build e2e

package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
)

// screen writes the live summary. On a terminal each summary replaces the
// previous one in place. In a pipe or a file, summaries follow one another
// as plain text blocks.
type screen struct {
	out      io.Writer
	terminal bool
}

func newScreen(f *os.File) *screen {
	info, err := f.Stat()
	terminal := err == nil && info.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
	return &screen{out: f, terminal: terminal}
}

// ANSI control sequences: move the cursor to the top left corner, erase to
// the end of the line, erase to the end of the screen.
const (
	cursorHome  = "\x1b[H"
	eraseLine   = "\x1b[K"
	eraseScreen = "\x1b[J"
)

// draw writes one summary built by write. On a terminal it overwrites the
// screen line by line instead of clearing it first, so the text does not
// flicker.
func (s *screen) draw(write func(w *strings.Builder)) {
	var text strings.Builder
	write(&text)
	if !s.terminal {
		io.WriteString(s.out, text.String()+"\n")
		return
	}

	var b strings.Builder
	b.WriteString(cursorHome)
	for line := range strings.Lines(text.String()) {
		b.WriteString(strings.TrimSuffix(line, "\n"))
		b.WriteString(eraseLine + "\n")
	}
	b.WriteString(eraseScreen)
	io.WriteString(s.out, b.String())
}

// progressHandler is a slog.Handler for the start-up progress lines: the
// time, the message and the attributes as key=value, with floats rounded to
// one decimal. It ignores groups, which the demo and the cluster package do
// not use.
type progressHandler struct {
	mu    *sync.Mutex
	out   io.Writer
	attrs []slog.Attr
}

func newProgressHandler(out io.Writer) *progressHandler {
	return &progressHandler{mu: &sync.Mutex{}, out: out}
}

func (h *progressHandler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo
}

func (h *progressHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Time.Format("15:04:05 "))
	if r.Level != slog.LevelInfo {
		b.WriteString(r.Level.String() + " ")
	}
	b.WriteString(r.Message)
	writeAttr := func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + formatAttrValue(a.Value))
		return true
	}
	for _, a := range h.attrs {
		writeAttr(a)
	}
	r.Attrs(writeAttr)
	b.WriteString("\n")

	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.out, b.String())
	return err
}

func (h *progressHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &progressHandler{mu: h.mu, out: h.out, attrs: append(h.attrs[:len(h.attrs):len(h.attrs)], attrs...)}
}

func (h *progressHandler) WithGroup(string) slog.Handler {
	return h
}

func formatAttrValue(v slog.Value) string {
	v = v.Resolve()
	if v.Kind() == slog.KindFloat64 {
		return strconv.FormatFloat(v.Float64(), 'f', 1, 64)
	}
	text := v.String()
	if text == "" || strings.ContainsAny(text, " \"=") {
		return strconv.Quote(text)
	}
	return text
}
