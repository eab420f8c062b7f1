package kubeletapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// LogOptions are the containerLogs parameters the lab serves.
type LogOptions struct {
	Follow bool
	// TailLines, when not negative, keeps only the last lines of what is
	// there when the request comes.
	TailLines int64
	// LimitBytes, when positive, ends the response after that many bytes.
	LimitBytes int64
}

// unsupportedLogParams are the parameters the lab's logs cannot honour:
// its containers write their output straight into the log file (so that
// they outlive the daemon), which therefore holds no time per line, and
// every run of a container is appended to the same file, so there is no
// previous run to tell apart. Refused, with why, rather than ignored.
var unsupportedLogParams = map[string]string{
	"timestamps":   "the lab's container logs hold no time per line (the process writes the file itself)",
	"sinceSeconds": "the lab's container logs hold no time per line (the process writes the file itself)",
	"sinceTime":    "the lab's container logs hold no time per line (the process writes the file itself)",
	"previous":     "the lab appends every run of a container to one log: there is no previous run's log apart",
}

func parseLogOptions(r *http.Request) (LogOptions, error) {
	o := LogOptions{TailLines: -1}
	q := r.URL.Query()
	for _, p := range []string{"timestamps", "sinceSeconds", "sinceTime", "previous"} {
		if v := q.Get(p); v != "" && v != "false" && v != "0" {
			return o, fmt.Errorf("%w: %s: %s", errBadRequest, p, unsupportedLogParams[p])
		}
	}
	switch q.Get("follow") {
	case "", "false", "0":
	case "true", "1":
		o.Follow = true
	default:
		return o, fmt.Errorf("%w: follow=%q: want true or false", errBadRequest, q.Get("follow"))
	}
	tail, err := atoiParam(r, "tailLines")
	if err != nil {
		return o, err
	}
	if tail != nil {
		if *tail < 0 {
			return o, fmt.Errorf("%w: tailLines=%d: must not be negative", errBadRequest, *tail)
		}
		o.TailLines = *tail
	}
	limit, err := atoiParam(r, "limitBytes")
	if err != nil {
		return o, err
	}
	if limit != nil {
		if *limit <= 0 {
			return o, fmt.Errorf("%w: limitBytes=%d: must be positive", errBadRequest, *limit)
		}
		o.LimitBytes = *limit
	}
	return o, nil
}

// followPoll is how often a followed log is read for more: what a
// container prints reaches `kubectl logs -f` within it.
const followPoll = 50 * time.Millisecond

func (h *handler) containerLogs(w http.ResponseWriter, r *http.Request) {
	c := container(r)
	opts, err := parseLogOptions(r)
	if err != nil {
		fail(w, err)
		return
	}
	l, err := h.rt.Log(c)
	if err != nil {
		fail(w, err)
		return
	}
	f, err := os.Open(l.Path)
	if errors.Is(err, os.ErrNotExist) {
		// Not started yet: nothing written.
		f = nil
	} else if err != nil {
		fail(w, err)
		return
	}
	if f != nil {
		defer f.Close()
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	out := &limitedWriter{w: w, left: opts.LimitBytes}
	if f != nil {
		b, err := io.ReadAll(f)
		if err != nil {
			fail(w, err)
			return
		}
		if opts.TailLines >= 0 {
			b = lastLines(b, opts.TailLines)
		}
		w.WriteHeader(http.StatusOK)
		if _, err := out.Write(b); err != nil {
			return
		}
	} else {
		w.WriteHeader(http.StatusOK)
	}
	if !opts.Follow {
		return
	}
	flush(w)
	buf := make([]byte, 32<<10)
	lastCheck := time.Now()
	for {
		if f == nil {
			f, _ = os.Open(l.Path)
			if f != nil {
				defer f.Close()
			}
		}
		if f != nil {
			n, err := f.Read(buf)
			if n > 0 {
				if _, werr := out.Write(buf[:n]); werr != nil {
					return
				}
				flush(w)
				continue
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return
			}
		}
		// At the end of what is written: a container that ended will
		// write no more.
		if time.Since(lastCheck) > time.Second {
			if !l.Running() {
				return
			}
			lastCheck = time.Now()
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(followPoll):
		}
	}
}

func flush(w http.ResponseWriter) {
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// lastLines keeps the last n lines of b (a last line without its newline
// counts).
func lastLines(b []byte, n int64) []byte {
	if n == 0 {
		return nil
	}
	end := len(b)
	if end > 0 && b[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if b[i] == '\n' {
			if n--; n == 0 {
				return b[i+1:]
			}
		}
	}
	return b
}

// limitedWriter ends the response after limitBytes (left <= 0: no limit).
type limitedWriter struct {
	w    io.Writer
	left int64
}

var errLimit = errors.New("limitBytes reached")

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.left == 0 {
		return l.w.Write(p)
	}
	if l.left < 0 {
		return 0, errLimit
	}
	cut := false
	if int64(len(p)) >= l.left {
		p, cut = p[:l.left], true
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	if cut {
		l.left = -1
		if err == nil {
			err = errLimit
		}
	}
	return n, err
}
