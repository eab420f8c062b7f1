package kubedns

import (
	"testing"

	"github.com/miekg/dns"
)

// FuzzRecords feeds arbitrary records-file contents to the loader and then
// asks the resulting table about every name it holds (and the fuzzed name):
// neither may panic, and answers must stay well-formed.
func FuzzRecords(f *testing.F) {
	f.Add([]byte(`{"records":[{"name":"backend.default.svc.cluster.local.","ips":["10.96.0.10","fd00::a"]}]}`), "backend.default.svc.cluster.local.")
	f.Add([]byte(`{"records":[{"name":"a..b.cluster.local","ips":["1.2.3.4%x"]}]}`), "10-0-0-1.x.pod.cluster.local.")
	f.Add([]byte(`{"records":[{"name":"\\046.cluster.local","ips":["::ffff:1.2.3.4"]},{"name":"x","ips":null}]}`), "1.0.0.10.in-addr.arpa.")
	f.Add([]byte(`{"records":{}}`), ".")
	f.Add([]byte(`{"records":[null,{"name":7}]}`), "fd00--1.ns.pod.cluster.local.")
	f.Add([]byte("\xff\xfe"), "")
	f.Fuzz(func(t *testing.T, data []byte, qname string) {
		tb, err := parseRecords(data)
		if tb == nil {
			if err == nil {
				t.Fatal("no table and no error")
			}
			return
		}
		names := []string{qname, dns.Fqdn(qname), Zone, "svc." + Zone}
		for n := range tb.names {
			names = append(names, n)
		}
		for a := range tb.reverse {
			if r, err := dns.ReverseAddr(a.String()); err == nil {
				names = append(names, r)
			}
		}
		for _, n := range names {
			// Names off the wire are always fully qualified.
			if _, ok := dns.IsDomainName(n); !ok || !dns.IsFqdn(n) {
				continue
			}
			for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeANY, dns.TypePTR, dns.TypeSOA} {
				req := new(dns.Msg)
				req.SetQuestion(n, qt)
				for _, udp := range []bool{true, false} {
					m := tb.answer(req, udp, 1)
					if _, err := m.Pack(); err != nil {
						t.Fatalf("answer to %s %s does not pack: %v", n, dns.TypeToString[qt], err)
					}
					for _, rr := range m.Answer {
						if a, ok := rr.(*dns.A); ok && a.A.To4() == nil {
							t.Fatalf("A record with %v", a.A)
						}
					}
				}
			}
		}
	})
}
