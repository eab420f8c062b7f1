package nflog_test

// Kernel tests: a real nfnetlink_log in a network namespace the test makes
// and removes. Nothing touches the host namespace: the nftables table, the
// sockets and every packet live inside it, on its loopback.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/knftables"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/nflog"
	"github.com/palisade-net/palisade/internal/nft"
)

var nsSerial atomic.Int32

// testNetns makes a namespace with lo up and a table whose output chain
// logs UDP to the given ports, each to its group.
func testNetns(t *testing.T, logs map[uint16]uint16) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, nftables)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft is not installed")
	}
	name := fmt.Sprintf("palt-nflog-%d-%d", os.Getpid(), nsSerial.Add(1))
	if err := plumbing.CreateNetns(name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := plumbing.DeleteNetns(name); err != nil {
			t.Errorf("removing netns %s: %v", name, err)
		}
	})
	tbl, err := nft.New(name, knftables.InetFamily, "palt-nflog")
	if err != nil {
		t.Fatal(err)
	}
	tx := tbl.NewTransaction()
	tx.Add(&knftables.Table{})
	tx.Add(&knftables.Chain{Name: "out", Type: knftables.PtrTo(knftables.FilterType),
		Hook: knftables.PtrTo(knftables.OutputHook), Priority: knftables.PtrTo(knftables.FilterPriority)})
	for port, group := range logs {
		tx.Add(&knftables.Rule{Chain: "out", Rule: fmt.Sprintf(`udp dport %d log prefix "palt nflog %d " group %d`, port, port, group)})
	}
	if err := tbl.Run(context.Background(), tx); err != nil {
		if _, serr := os.Stat("/sys/module/nfnetlink_log"); serr != nil && strings.Contains(err.Error(), "log") {
			t.Skipf("this kernel has no nfnetlink_log (nft refused `log group`: %v)", err)
		}
		t.Fatal(err)
	}
	return name
}

func listen(t *testing.T, ns string, group uint16, opts nflog.Options) *nflog.Listener {
	t.Helper()
	opts.Netns = plumbing.NetnsPath(ns)
	l, err := nflog.Listen(group, opts)
	if errors.Is(err, nflog.ErrUnsupported) {
		t.Skipf("this kernel has no nfnetlink_log: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// udpPair opens a sink on port and a sender, both inside ns: the sink
// keeps the kernel from answering with ICMP, so nothing but our datagrams
// cross the loopback.
func udpPair(t *testing.T, ns string, port int) (send func(), from netip.AddrPort) {
	t.Helper()
	sink, err := plumbing.ListenPacket(ns, "udp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	sender, err := plumbing.ListenPacket(ns, "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sender.Close() })
	to := sink.LocalAddr()
	return func() {
		if _, err := sender.WriteTo([]byte("palisade"), to); err != nil {
			t.Fatal(err)
		}
	}, sender.LocalAddr().(*net.UDPAddr).AddrPort()
}

func TestNFLOGKernel(t *testing.T) {
	ns := testNetns(t, map[uint16]uint16{9999: 7})
	l := listen(t, ns, 7, nflog.Options{})

	// One listener per group and namespace: the second hears why not.
	if _, err := nflog.Listen(7, nflog.Options{Netns: plumbing.NetnsPath(ns)}); err == nil || !strings.Contains(err.Error(), "another listener") {
		t.Errorf("a second listener on the group: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	recs := make(chan nflog.Record, 16)
	done := make(chan error, 1)
	go func() { done <- l.Receive(ctx, func(r nflog.Record) { recs <- r }) }()

	send, from := udpPair(t, ns, 9999)
	send()
	select {
	case r := <-recs:
		p := r.Packet
		if r.Prefix != "palt nflog 9999 " || r.Group != 7 || r.Hook != 3 {
			t.Errorf("record prefix %q group %d hook %d", r.Prefix, r.Group, r.Hook)
		}
		if p.Src != netip.MustParseAddr("127.0.0.1") || p.Dst != netip.MustParseAddr("127.0.0.1") || p.ProtocolName() != "UDP" ||
			!p.HasPorts || p.SrcPort != from.Port() || p.DstPort != 9999 || p.Length != 20+8+len("palisade") {
			t.Errorf("packet %+v, want UDP 127.0.0.1:%d -> 127.0.0.1:9999", p, from.Port())
		}
		if !r.HasSeq || r.Seq != 0 || r.Lost != 0 {
			t.Errorf("first record: seq %d (%v), lost %d", r.Seq, r.HasSeq, r.Lost)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no record within 3s")
	}

	// Cancelling the context closes the listener and ends Receive.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Receive after cancel: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Receive did not return after cancel")
	}
	// The group is free again once the listener is gone.
	again, err := nflog.Listen(7, nflog.Options{Netns: plumbing.NetnsPath(ns)})
	if err != nil {
		t.Fatalf("rebinding after close: %v", err)
	}
	again.Close()
}

// TestNFLOGOverrun fills a tiny socket queue before reading: the kernel
// drops records, and the listener counts exactly how many instead of
// failing.
func TestNFLOGOverrun(t *testing.T) {
	ns := testNetns(t, map[uint16]uint16{9998: 8})
	l := listen(t, ns, 8, nflog.Options{ReadBuffer: 1})
	send, _ := udpPair(t, ns, 9998)
	const burst = 200
	for range burst {
		send()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got, lost atomic.Uint64
	marker := make(chan struct{})
	go func() {
		_ = l.Receive(ctx, func(r nflog.Record) {
			got.Add(1)
			lost.Add(r.Lost)
			if r.Seq == burst {
				close(marker)
			}
		})
	}()
	// Losses show as a gap before the next record: send one after the
	// burst has been read.
	time.Sleep(100 * time.Millisecond)
	send()
	select {
	case <-marker:
	case <-time.After(3 * time.Second):
		t.Fatalf("the record after the burst never came; %d records, %d lost", got.Load(), lost.Load())
	}
	st := l.Stats()
	if got.Load()+lost.Load() != burst+1 || lost.Load() == 0 || st.Lost != lost.Load() || st.Overruns == 0 {
		t.Errorf("%d records + %d lost, want %d in all with some lost; stats %+v", got.Load(), lost.Load(), burst+1, st)
	}
}
