package images

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// rawResponse is a response written with headers in the order given.
// net/http sorts header names, but what `curl -I` prints is part of what a
// tutorial shows: nginx and Express each have their own order.
type rawResponse struct {
	status  int
	reason  string // nginx's "Not Allowed" differs from Go's status text
	headers []rawHeader
	body    []byte
}

type rawHeader struct{ name, value string }

// Placeholders a handler puts where its server writes these headers; the
// writer fills in the values.
const (
	hdrDate       = "\x00date"
	hdrConnection = "\x00connection"
)

type rawServer struct {
	// handle answers one request; keepAlive says whether the connection
	// stays open.
	handle func(r *http.Request, keepAlive bool) rawResponse
	// badRequest answers an unparsable request before closing.
	badRequest func() rawResponse
	// served is called after each response (access logs) with the body
	// bytes sent and the time the request took.
	served func(r *http.Request, resp rawResponse, bodySent int, took time.Duration)
	// idle is the keep-alive timeout.
	idle time.Duration
}

// serve accepts on ls until ctx is done, then closes every connection.
func (s *rawServer) serve(ctx context.Context, ls []net.Listener) {
	serveConns(ctx, ls, func(c net.Conn) {
		s.conn(c)
		_ = c.Close()
	})
}

func (s *rawServer) conn(c net.Conn) {
	br := bufio.NewReader(c)
	bw := bufio.NewWriter(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(s.idle))
		r, err := http.ReadRequest(br)
		if err != nil {
			var ne net.Error
			if !errors.Is(err, io.EOF) && !errors.As(err, &ne) && s.badRequest != nil {
				_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				_ = writeRaw(bw, s.badRequest(), false, false)
			}
			return
		}
		r.RemoteAddr = c.RemoteAddr().String()
		if r.Header.Get("Expect") == "100-continue" && r.ProtoAtLeast(1, 1) {
			_, _ = io.WriteString(bw, "HTTP/1.1 100 Continue\r\n\r\n")
			_ = bw.Flush()
		}
		keep := !r.Close
		began := time.Now()
		resp := s.handle(r, keep)
		// Whatever the handler left unread must go before the next request.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		_ = r.Body.Close()
		_ = c.SetWriteDeadline(time.Now().Add(60 * time.Second))
		head := r.Method == http.MethodHead
		if err := writeRaw(bw, resp, keep, head); err != nil {
			return
		}
		if s.served != nil {
			sent := len(resp.body)
			if head || resp.status == http.StatusNotModified {
				sent = 0
			}
			s.served(r, resp, sent, time.Since(began))
		}
		if !keep {
			return
		}
	}
}

func writeRaw(w *bufio.Writer, resp rawResponse, keep, head bool) error {
	reason := resp.reason
	if reason == "" {
		reason = http.StatusText(resp.status)
	}
	fmt.Fprintf(w, "HTTP/1.1 %d %s\r\n", resp.status, reason)
	for _, h := range resp.headers {
		name, value := h.name, h.value
		switch name {
		case hdrDate:
			name, value = "Date", httpDate(time.Now())
		case hdrConnection:
			name, value = "Connection", "keep-alive"
			if !keep {
				value = "close"
			}
		}
		fmt.Fprintf(w, "%s: %s\r\n", name, value)
	}
	_, _ = w.WriteString("\r\n")
	if !head && resp.status != http.StatusNotModified {
		_, _ = w.Write(resp.body)
	}
	return w.Flush()
}

func contentLength(b []byte) rawHeader { return rawHeader{"Content-Length", strconv.Itoa(len(b))} }
