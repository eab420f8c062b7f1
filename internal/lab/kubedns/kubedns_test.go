package kubedns

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/palisade-net/palisade/internal/syncbuf"
)

// startServer runs a server on a random loopback port; cleanup stops it and
// waits for it.
func startServer(t *testing.T, records []Record) (addr, file string, logs *syncbuf.Buffer) {
	t.Helper()
	file = filepath.Join(t.TempDir(), "records.json")
	if records != nil {
		if err := WriteRecords(file, records); err != nil {
			t.Fatal(err)
		}
	}
	logs = &syncbuf.Buffer{}
	s, err := Listen("127.0.0.1:0", file, logs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("server did not stop")
		}
	})
	return s.Addr(), file, logs
}

func query(t *testing.T, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Net: network, Timeout: 2 * time.Second}
	var in *dns.Msg
	var err error
	for i := 0; i < 20; i++ {
		if in, _, err = c.Exchange(m, addr); err == nil {
			return in
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s %s %s: %v", network, name, dns.TypeToString[qtype], err)
	return nil
}

func answerIPs(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch r := rr.(type) {
		case *dns.A:
			out = append(out, r.A.String())
		case *dns.AAAA:
			out = append(out, r.AAAA.String())
		case *dns.PTR:
			out = append(out, r.Ptr)
		}
	}
	sort.Strings(out)
	return out
}

func labRecords() []Record {
	return []Record{
		{Name: "backend.default.svc.cluster.local.", IPs: []string{"10.96.0.10", "fd00:96::a"}},
		{Name: "kube-dns.kube-system.svc.cluster.local", IPs: []string{"10.96.0.53"}},
		{Name: "v6only.default.svc.cluster.local.", IPs: []string{"fd00:96::b"}},
		{Name: "headless.default.svc.cluster.local.", IPs: nil},
	}
}

func TestAnswers(t *testing.T) {
	addr, _, logs := startServer(t, labRecords())
	cases := []struct {
		name   string
		qtype  uint16
		rcode  int
		ips    []string
		soa    bool // negative answer carries the SOA
		noAuth bool
	}{
		{"backend.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.96.0.10"}, false, false},
		{"backend.default.svc.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, []string{"fd00:96::a"}, false, false},
		{"BackEnd.Default.SVC.cluster.LOCAL.", dns.TypeA, dns.RcodeSuccess, []string{"10.96.0.10"}, false, false},
		{"backend.default.svc.cluster.local.", dns.TypeANY, dns.RcodeSuccess, []string{"10.96.0.10", "fd00:96::a"}, false, false},
		{"backend.default.svc.cluster.local.", dns.TypeMX, dns.RcodeSuccess, nil, true, false},
		{"kube-dns.kube-system.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.96.0.53"}, false, false},
		{"kube-dns.kube-system.svc.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, nil, true, false}, // NODATA
		{"v6only.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, nil, true, false},
		{"headless.default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, nil, true, false},
		{"default.svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, nil, true, false}, // empty non-terminal
		{"svc.cluster.local.", dns.TypeA, dns.RcodeSuccess, nil, true, false},
		{"cluster.local.", dns.TypeA, dns.RcodeSuccess, nil, true, false},
		{"missing.default.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, true, false},
		{"backend.svc.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, true, false}, // search-path probe
		{"backend.cluster.local.", dns.TypeAAAA, dns.RcodeNameError, nil, true, false},
		{"10-1-2-3.default.pod.cluster.local.", dns.TypeA, dns.RcodeSuccess, []string{"10.1.2.3"}, false, false},
		{"10-1-2-3.default.pod.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, nil, true, false},
		{"fd00-10--5.x.pod.cluster.local.", dns.TypeAAAA, dns.RcodeSuccess, []string{"fd00:10::5"}, false, false},
		{"10-1-2.default.pod.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, true, false},
		{"10-1-2-3.pod.cluster.local.", dns.TypeA, dns.RcodeNameError, nil, true, false},
		{"www.example.com.", dns.TypeA, dns.RcodeRefused, nil, false, true},
		{"backend.", dns.TypeA, dns.RcodeRefused, nil, false, true},
		{"local.", dns.TypeA, dns.RcodeRefused, nil, false, true},
		{"10.0.96.10.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"backend.default.svc.cluster.local."}, false, false},
		{"a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"backend.default.svc.cluster.local."}, false, false},
		{"9.9.9.9.in-addr.arpa.", dns.TypePTR, dns.RcodeRefused, nil, false, true},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range cases {
			t.Run(network+" "+tc.name+" "+dns.TypeToString[tc.qtype], func(t *testing.T) {
				in := query(t, network, addr, tc.name, tc.qtype)
				if in.Rcode != tc.rcode {
					t.Fatalf("rcode %s, want %s", dns.RcodeToString[in.Rcode], dns.RcodeToString[tc.rcode])
				}
				if got := answerIPs(in); fmt.Sprint(got) != fmt.Sprint(tc.ips) {
					t.Errorf("answers %v, want %v", got, tc.ips)
				}
				for _, rr := range in.Answer {
					if rr.Header().Ttl != TTL {
						t.Errorf("TTL %d", rr.Header().Ttl)
					}
					if rr.Header().Name != tc.name {
						t.Errorf("answer owner %q does not echo the question %q", rr.Header().Name, tc.name)
					}
				}
				hasSOA := len(in.Ns) == 1 && in.Ns[0].Header().Rrtype == dns.TypeSOA && in.Ns[0].(*dns.SOA).Minttl == TTL
				if hasSOA != tc.soa {
					t.Errorf("authority %v, want SOA: %v", in.Ns, tc.soa)
				}
				if in.Authoritative == tc.noAuth {
					t.Errorf("AA = %v", in.Authoritative)
				}
				if in.RecursionAvailable {
					t.Error("RA set by a server that does not recurse")
				}
			})
		}
	}
	if in := query(t, "udp", addr, "cluster.local.", dns.TypeSOA); len(in.Answer) != 1 || in.Answer[0].(*dns.SOA).Ns != "ns.dns.cluster.local." {
		t.Errorf("SOA query: %v", in)
	}
	if in := query(t, "udp", addr, "cluster.local.", dns.TypeNS); len(in.Answer) != 1 {
		t.Errorf("NS query: %v", in)
	}
	if strings.Contains(logs.String(), "backend") {
		t.Errorf("queries are logged:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "kube-dns: serving cluster.local.") {
		t.Errorf("no start-up line:\n%s", logs)
	}
}

func TestProtocolEdges(t *testing.T) {
	addr, _, _ := startServer(t, labRecords())
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}

	// Opcodes other than QUERY are not implemented.
	m := new(dns.Msg)
	m.SetQuestion("backend.default.svc.cluster.local.", dns.TypeA)
	m.Opcode = dns.OpcodeNotify
	if in, _, err := c.Exchange(m, addr); err != nil || in.Rcode != dns.RcodeNotImplemented {
		t.Errorf("NOTIFY: %v %v", in, err)
	}
	// Two questions are a format error.
	m = new(dns.Msg)
	m.SetQuestion("backend.default.svc.cluster.local.", dns.TypeA)
	m.Question = append(m.Question, m.Question[0])
	if in, _, err := c.Exchange(m, addr); err != nil || in.Rcode != dns.RcodeFormatError {
		t.Errorf("two questions: %v %v", in, err)
	}
	// Class CHAOS (version.bind and friends) is refused.
	m = new(dns.Msg)
	m.SetQuestion("version.bind.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	if in, _, err := c.Exchange(m, addr); err != nil || in.Rcode != dns.RcodeRefused {
		t.Errorf("CHAOS: %v %v", in, err)
	}
	// EDNS is echoed.
	m = new(dns.Msg)
	m.SetQuestion("backend.default.svc.cluster.local.", dns.TypeA)
	m.SetEdns0(4096, false)
	if in, _, err := c.Exchange(m, addr); err != nil || in.IsEdns0() == nil || len(in.Answer) != 1 {
		t.Errorf("EDNS: %v %v", in, err)
	}
}

func TestTruncation(t *testing.T) {
	var ips []string
	for i := 0; i < 200; i++ {
		ips = append(ips, fmt.Sprintf("10.97.%d.%d", i/250, i%250+1))
	}
	addr, _, _ := startServer(t, []Record{{Name: "big.default.svc.cluster.local.", IPs: ips}})
	udp := query(t, "udp", addr, "big.default.svc.cluster.local.", dns.TypeA)
	if !udp.Truncated || len(udp.Answer) >= 200 {
		t.Errorf("UDP answer: TC=%v with %d records", udp.Truncated, len(udp.Answer))
	}
	tcp := query(t, "tcp", addr, "big.default.svc.cluster.local.", dns.TypeA)
	if tcp.Truncated || len(tcp.Answer) != 200 {
		t.Errorf("TCP answer: TC=%v with %d records", tcp.Truncated, len(tcp.Answer))
	}
}

func TestReload(t *testing.T) {
	addr, file, logs := startServer(t, labRecords())
	const name = "new.default.svc.cluster.local."
	if in := query(t, "udp", addr, name, dns.TypeA); in.Rcode != dns.RcodeNameError {
		t.Fatalf("before: %s", dns.RcodeToString[in.Rcode])
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not seen within 3s; logs:\n%s", what, logs)
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	// The lab's atomic rename.
	if err := WriteRecords(file, append(labRecords(), Record{Name: name, IPs: []string{"10.96.0.77"}})); err != nil {
		t.Fatal(err)
	}
	waitFor("new record", func() bool {
		return fmt.Sprint(answerIPs(query(t, "udp", addr, name, dns.TypeA))) == "[10.96.0.77]"
	})

	// A malformed file keeps the last good records and logs once.
	if err := os.WriteFile(file+".tmp", []byte(`{"records": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".tmp", file); err != nil {
		t.Fatal(err)
	}
	waitFor("reload error logged", func() bool { return strings.Contains(logs.String(), "reload") })
	time.Sleep(3 * pollInterval)
	if got := answerIPs(query(t, "tcp", addr, name, dns.TypeA)); fmt.Sprint(got) != "[10.96.0.77]" {
		t.Errorf("after a bad file: %v", got)
	}
	if n := strings.Count(logs.String(), "reload"); n != 1 {
		t.Errorf("reload error logged %d times:\n%s", n, logs)
	}

	// Bad entries are skipped, good ones load, the problem is logged.
	if err := WriteRecords(file, []Record{
		{Name: "ok.default.svc.cluster.local.", IPs: []string{"10.96.0.5", "not-an-ip"}},
		{Name: "example.com.", IPs: []string{"1.2.3.4"}},
	}); err != nil {
		t.Fatal(err)
	}
	waitFor("partial load", func() bool {
		return fmt.Sprint(answerIPs(query(t, "udp", addr, "ok.default.svc.cluster.local.", dns.TypeA))) == "[10.96.0.5]"
	})
	if in := query(t, "udp", addr, name, dns.TypeA); in.Rcode != dns.RcodeNameError {
		t.Errorf("removed record still answered: %v", in)
	}
	waitFor("bad entries logged", func() bool {
		return strings.Contains(logs.String(), `bad IP "not-an-ip"`) && strings.Contains(logs.String(), "not under cluster.local.")
	})

	// In-place rewrite (no rename) is noticed too.
	if err := os.WriteFile(file, []byte(`{"records":[{"name":"inplace.default.svc.cluster.local","ips":["10.96.1.1"]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("in-place rewrite", func() bool {
		return fmt.Sprint(answerIPs(query(t, "udp", addr, "inplace.default.svc.cluster.local.", dns.TypeA))) == "[10.96.1.1]"
	})
}

func TestMissingRecordsFile(t *testing.T) {
	addr, file, logs := startServer(t, nil)
	if in := query(t, "udp", addr, "backend.default.svc.cluster.local.", dns.TypeA); in.Rcode != dns.RcodeNameError {
		t.Errorf("no file: %v", in)
	}
	if !strings.Contains(logs.String(), "no such file") {
		t.Errorf("missing file not logged:\n%s", logs)
	}
	if err := WriteRecords(file, labRecords()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(answerIPs(query(t, "udp", addr, "backend.default.svc.cluster.local.", dns.TypeA))) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("file that appeared later was not loaded")
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestServeBindError(t *testing.T) {
	s, err := Listen("127.0.0.1:0", "/nonexistent", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.udp.Close(); _ = s.tcp.Close() }()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Serve(ctx, s.Addr(), "/nonexistent", nil); err == nil {
		t.Error("Serve on a taken port succeeded")
	}
	if _, err := Listen("no-port", "x", nil); err == nil {
		t.Error("Listen without a port succeeded")
	}
}

func TestParseRecords(t *testing.T) {
	tb, err := parseRecords([]byte(`{"records":[
		{"name":"A.Default.svc.cluster.local","ips":["10.0.0.1","10.0.0.1","::ffff:10.0.0.2"]},
		{"name":"a.default.svc.cluster.local.","ips":["fd00::1"]},
		{"name":"","ips":[]},
		{"name":"cluster.local.","ips":["1.1.1.1"]},
		{"name":"x.default.svc.cluster.local.","ips":["fe80::1%eth0"]}
	]}`))
	if tb == nil {
		t.Fatal("no table")
	}
	if err == nil || !strings.Contains(err.Error(), "empty name") || !strings.Contains(err.Error(), "not under") || !strings.Contains(err.Error(), "fe80::1%eth0") {
		t.Errorf("error %v", err)
	}
	ips, ok := tb.lookup("a.default.svc.cluster.local.")
	if !ok || fmt.Sprint(ips) != "[10.0.0.1 10.0.0.2 fd00::1]" {
		t.Errorf("merged record %v %v", ips, ok)
	}
	if !tb.parents["default.svc.cluster.local."] || !tb.parents["svc.cluster.local."] || tb.parents["cluster.local."] {
		t.Errorf("parents %v", tb.parents)
	}
	if tb, err := parseRecords([]byte(`[]`)); tb != nil || err == nil {
		t.Error("a JSON array loaded")
	}
	if tb, err := parseRecords([]byte(`{}`)); tb == nil || err != nil || len(tb.names) != 0 {
		t.Errorf("empty document: %v %v", tb, err)
	}
}

func TestWriteRecordsAtomic(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "r.json")
	if err := WriteRecords(file, labRecords()); err != nil {
		t.Fatal(err)
	}
	tb, err := loadRecords(file)
	if err != nil || len(tb.names) != len(labRecords()) {
		t.Fatalf("round trip: %v %v", tb, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := WriteRecords(filepath.Join(dir, "missing-dir", "r.json"), nil); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}
