package main

// The payload's stderr is its task log: each line goes to the node as a `log` frame while the
// payload runs, so participants can follow it. The payload only ever holds its own stderr pipe;
// the agent frames what it reads, so no byte of it can pose as another frame. Bounded like the
// node's relay: a line is cut at maxLogLine bytes (and marked); the total is the spec's
// stderrBytes, which `capped` enforces before any byte reaches here.

import (
	"bytes"
	"io"
	"strings"
)

const maxLogLine = 16 << 10

type liveLog struct {
	// Written by the one goroutine that copies stderr; the agent's own frames (the result) are
	// written only once that copy has ended (cmd.Wait, or the zygote path's done channel).
	w        io.Writer
	partial  []byte
	skipping bool
}

func (l *liveLog) write(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		if !l.skipping {
			if room := maxLogLine - len(l.partial); len(seg) > room {
				l.partial = append(l.partial, seg[:room]...)
				l.send(" […]")
				l.skipping = true
			} else {
				l.partial = append(l.partial, seg...)
			}
		}
		if i < 0 {
			return
		}
		if l.skipping {
			l.skipping = false
		} else {
			l.send("")
		}
		p = p[i+1:]
	}
}

// flush sends what follows the last newline, once the payload is done.
func (l *liveLog) flush() {
	if len(l.partial) > 0 && !l.skipping {
		l.send("")
	}
	l.partial, l.skipping = nil, false
}

func (l *liveLog) send(mark string) {
	line := strings.TrimSuffix(string(l.partial), "\r")
	l.partial = l.partial[:0]
	// A cut may split a UTF-8 sequence; the line travels as JSON text.
	line = strings.ToValidUTF8(line, "") + mark
	if l.w != nil {
		// A failed write means the node is gone; the result write will say so.
		_ = writeFrame(l.w, "log", map[string]string{"line": line})
	}
}
