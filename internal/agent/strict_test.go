package agent

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
)

// serveEcho echoes every line on TCP port in a pod until the test ends.
func serveEcho(t *testing.T, podNetns, port string) {
	t.Helper()
	ln, err := plumbing.Listen(podNetns, "tcp", ":"+port)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					if _, err := fmt.Fprintln(c, sc.Text()); err != nil {
						return
					}
				}
			}()
		}
	}()
}

// echo sends one line on an open connection and waits for it to come back.
func echo(c net.Conn, rd *bufio.Reader, wait time.Duration) error {
	if _, err := fmt.Fprintln(c, "ping"); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	line, err := rd.ReadString('\n')
	if err != nil {
		return err
	}
	if line != "ping\n" {
		return fmt.Errorf("echo %q", line)
	}
	return nil
}

// ctStateCounter counts, in a table of the test's own ahead of the
// policy table, the packets to port 8080 that conntrack sees as new and
// as invalid: what the next packet of a flow whose entry went looks like.
func ctStateCounter(t *testing.T, router string) func() (newPkts, invalid int) {
	t.Helper()
	script := `table inet pltest-ctstate {
	chain forward {
		type filter hook forward priority filter - 10; policy accept;
		tcp dport 8080 ct state new counter
		tcp dport 8080 ct state invalid counter
	}
}
`
	cmd := exec.Command("ip", "netns", "exec", router, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "exec", router, "nft", "delete", "table", "inet", "pltest-ctstate").Run()
	})
	re := regexp.MustCompile(`ct state (new|invalid) counter packets (\d+)`)
	return func() (int, int) {
		out, _ := exec.Command("ip", "netns", "exec", router, "nft", "list", "table", "inet", "pltest-ctstate").CombinedOutput()
		n := map[string]int{}
		for _, m := range re.FindAllStringSubmatch(string(out), -1) {
			n[m[1]], _ = strconv.Atoi(m[2])
		}
		return n["new"], n["invalid"]
	}
}

// TestStrictCutsDeniedConnections: an open TCP connection that a policy
// change denies stops carrying packets within a second in strict mode (its
// conntrack entry deleted, its next packet judged as new and dropped),
// and carries on with --strict=false; in both, new connections are
// refused. An allowed connection stays up across an unrelated change.
func TestStrictCutsDeniedConnections(t *testing.T) {
	for _, tc := range []struct {
		name      string
		keep      bool // --strict=false
		unrelated bool // the change denies another pod, not the client
		cut       bool
	}{
		{"strict", false, false, true},
		{"strict=false", true, false, false},
		{"strict, unrelated change", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			router := testNetns(t)
			server, friend, other := netip.MustParseAddr("10.244.1.2"), netip.MustParseAddr("10.244.2.3"), netip.MustParseAddr("10.244.2.4")
			pods := routedPods(t, router, server, friend, other)
			serveEcho(t, pods[0], "8080")
			states := ctStateCounter(t, router)
			ctx := context.Background()
			client := fake.NewClientset(namespace("shop", nil), namespace("clients", nil), netpol(t, webIngress),
				pod("shop", "web", "node-a", server.String(), map[string]string{"app": "web"}),
				pod("clients", "friend", "node-b", friend.String(), map[string]string{"app": "client"}),
				pod("clients", "other", "node-b", other.String(), map[string]string{"app": "client"}))
			r := start(t, client, router, func(c *Config) { c.KeepEstablished = tc.keep })
			r.waitReady(t)
			dial := func(from int) (net.Conn, error) {
				return plumbing.Dial(pods[from], "tcp", net.JoinHostPort(server.String(), "8080"), 500*time.Millisecond)
			}
			c, err := dial(1)
			if err != nil {
				t.Fatalf("the allowed connection: %v\n%s", err, policyTable(t, router).dump())
			}
			defer c.Close()
			rd := bufio.NewReader(c)
			if err := echo(c, rd, time.Second); err != nil {
				t.Fatal(err)
			}
			for len(r.reports) > 0 {
				<-r.reports
			}

			// The change: relabel the client (or, unrelated, the other pod)
			// so that the policy no longer admits it.
			denied := "friend"
			if tc.unrelated {
				denied = "other"
			}
			p, err := client.CoreV1().Pods("clients").Get(ctx, denied, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			p.Labels["app"] = "other"
			changed := time.Now()
			if _, err := client.CoreV1().Pods("clients").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			// Talk on the open connection every 10 ms until it stops
			// answering, or for 1.5 s.
			var cutAt time.Time
			for time.Since(changed) < 1500*time.Millisecond {
				sent := time.Now()
				if err := echo(c, rd, 200*time.Millisecond); err != nil {
					cutAt = sent
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			// The change is in force in the kernel by now, whatever became
			// of the open connection.
			eventually(t, 5*time.Second, "the change programmed", func() (bool, string) {
				for len(r.reports) > 0 {
					if rep := <-r.reports; rep.Mode == "partial" {
						return true, ""
					}
				}
				return false, "no partial sync"
			})
			if nc, err := dial(map[bool]int{false: 1, true: 2}[tc.unrelated]); err == nil {
				nc.Close()
				t.Fatalf("a new connection from the relabelled pod got through\n%s", policyTable(t, router).dump())
			}
			switch {
			case tc.cut && cutAt.IsZero():
				t.Fatalf("the denied connection still answers 1.5 s after the change\n%s", policyTable(t, router).dump())
			case tc.cut:
				took := cutAt.Sub(changed)
				t.Logf("cut %v after the change", took.Round(time.Millisecond))
				if took > time.Second {
					t.Errorf("cut after %v, want within 1 s", took)
				}
				// It stays cut: later packets of the flow are dropped too.
				time.Sleep(300 * time.Millisecond)
				if err := echo(c, rd, 500*time.Millisecond); err == nil {
					t.Error("the cut connection answers again")
				}
				n, inv := states()
				t.Logf("packets to :8080 seen by conntrack as new: %d, invalid: %d", n, inv)
			case !cutAt.IsZero():
				t.Fatalf("the connection stopped %v after the change: %s", cutAt.Sub(changed), tc.name)
			default:
				if err := echo(c, rd, time.Second); err != nil {
					t.Fatalf("the open connection broke: %v", err)
				}
			}
		})
	}
}
