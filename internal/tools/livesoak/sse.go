package livesoak

import (
	"bufio"
	"io"
	"strings"
)

// SSEEvent is one Server-Sent Event.
type SSEEvent struct {
	Event string
	Data  string
	ID    string
}

// ReadSSE parses a text/event-stream body and calls fn for every event, in
// order, until r ends, fn fails, or a line is longer than maxLine. It
// follows the WHATWG rules that matter here: "field: value" lines (one
// optional space after the colon), comment lines starting with ':',
// several data lines joined with newlines, an event dispatched at a blank
// line, no dispatch without data, and the type defaulting to "message".
func ReadSSE(r io.Reader, maxLine int, fn func(SSEEvent) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var ev SSEEvent
	var data []string
	hasData := false
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			if hasData {
				ev.Data = strings.Join(data, "\n")
				if ev.Event == "" {
					ev.Event = "message"
				}
				if err := fn(ev); err != nil {
					return err
				}
			}
			ev, data, hasData = SSEEvent{ID: ev.ID}, data[:0], false
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Event = value
		case "data":
			data = append(data, value)
			hasData = true
		case "id":
			ev.ID = value
		}
	}
	return sc.Err()
}
