package images

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// TestServeConns: every listener's connections are served until the
// context ends; then a connection still being served is closed (as the
// process's exit would close it) and serveConns returns once its handler
// has, while one the handler gave away is left to its new owner.
func TestServeConns(t *testing.T) {
	for _, tc := range []struct {
		name      string
		keep      bool // the handler hands the connection on and returns
		wantClose bool // the client sees EOF after the shutdown
	}{
		{name: "served connection is closed at shutdown", wantClose: true},
		{name: "handed-on connection stays open", keep: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ls []net.Listener
			for range 2 {
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				ls = append(ls, l)
			}
			kept := make(chan net.Conn, len(ls))
			t.Cleanup(func() {
				close(kept)
				for c := range kept {
					_ = c.Close()
				}
			})
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			done := make(chan struct{})
			go func() {
				defer close(done)
				serveConns(ctx, ls, func(c net.Conn) {
					_, _ = io.WriteString(c, "hi")
					if tc.keep {
						kept <- c
						return
					}
					_, _ = io.Copy(io.Discard, c) // until the client or the shutdown closes it
				})
			}()
			var clients []net.Conn
			for _, l := range ls {
				c, err := net.Dial("tcp", l.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = c.Close() })
				buf := make([]byte, 2)
				if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
					t.Fatalf("read from %s: %q, %v", l.Addr(), buf, err)
				}
				clients = append(clients, c)
			}
			stop()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("serveConns did not return after the context ended")
			}
			for _, c := range clients {
				_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				_, err := c.Read(make([]byte, 1))
				if closed := err == io.EOF; closed != tc.wantClose {
					t.Errorf("after shutdown: read error %v, want closed=%v", err, tc.wantClose)
				}
			}
			for _, l := range ls {
				if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
					_ = c.Close()
					t.Errorf("listener %s still accepts after shutdown", l.Addr())
				}
			}
		})
	}
}
