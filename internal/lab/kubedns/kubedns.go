// Package kubedns is the cluster DNS server of the palisade lab: the process
// in the kube-system pod labelled k8s-app=kube-dns, behind service kube-dns
// on port 53 (UDP and TCP).
//
// It is authoritative for cluster.local only: services and pods from a
// records file the lab rewrites, REFUSED for everything else (the lab has no
// upstream resolver and never sends packets outside its namespaces).
package kubedns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// pollInterval is how often the records file's metadata is checked.
const pollInterval = 200 * time.Millisecond

// Serve answers DNS on addr (":53": every address of the pod, IPv4 and IPv6,
// UDP and TCP) from recordsFile until ctx is done. It logs start-up and
// reload errors to log, nothing per query.
func Serve(ctx context.Context, addr string, recordsFile string, log io.Writer) error {
	s, err := Listen(addr, recordsFile, log)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// Server is a bound, not yet running DNS server; binding first lets a caller
// use port 0 and learn the port (Addr) before queries start.
type Server struct {
	udp         net.PacketConn
	tcp         net.Listener
	recordsFile string
	log         io.Writer
	tbl         atomic.Pointer[table]
	serial      atomic.Uint32

	// Reload bookkeeping: the poller and every query may reload.
	reloadMu sync.Mutex
	lastInfo os.FileInfo
	lastErr  string
}

// Listen binds UDP and TCP on addr, the same port for both.
func Listen(addr, recordsFile string, log io.Writer) (*Server, error) {
	if log == nil {
		log = io.Discard
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("kube-dns: %v", err)
	}
	var (
		pc net.PacketConn
		l  net.Listener
	)
	// With port 0 the kernel picks the UDP port, which may be taken for TCP:
	// try a few.
	for attempt := 0; ; attempt++ {
		pc, err = net.ListenPacket("udp", net.JoinHostPort(host, port))
		if err != nil {
			return nil, fmt.Errorf("kube-dns: %v", err)
		}
		_, got, _ := net.SplitHostPort(pc.LocalAddr().String())
		l, err = net.Listen("tcp", net.JoinHostPort(host, got))
		if err == nil {
			break
		}
		_ = pc.Close()
		if port != "0" || attempt >= 10 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("kube-dns: %v", err)
		}
	}
	s := &Server{udp: pc, tcp: l, recordsFile: recordsFile, log: log}
	s.tbl.Store(emptyTable())
	s.serial.Store(uint32(time.Now().Unix()))
	return s, nil
}

// Addr is the bound address (host:port), the same for UDP and TCP.
func (s *Server) Addr() string { return s.udp.LocalAddr().String() }

// Run serves until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	fmt.Fprintf(s.log, "kube-dns: serving %s on %s (udp, tcp), records from %s\n", Zone, s.Addr(), s.recordsFile)
	s.reload()

	handler := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		_, udp := w.LocalAddr().(*net.UDPAddr)
		// A stat per query (about a microsecond) makes a service answer by
		// name the moment the lab has written it, not up to a poll later.
		s.reload()
		_ = w.WriteMsg(s.tbl.Load().answer(req, udp, s.serial.Load()))
	})
	servers := []*dns.Server{
		{PacketConn: s.udp, Handler: handler, UDPSize: dns.MaxMsgSize},
		{Listener: s.tcp, Handler: handler},
	}
	errc := make(chan error, len(servers))
	var started sync.WaitGroup
	for _, srv := range servers {
		started.Add(1)
		srv.NotifyStartedFunc = started.Done
		go func() { errc <- srv.ActivateAndServe() }()
	}
	startErr := make(chan struct{})
	go func() { started.Wait(); close(startErr) }()

	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	var err error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err = <-errc:
			break loop
		case <-ticker.C:
			s.reload()
		}
	}
	// Shutdown refuses a server that never got going; close its socket
	// directly then.
	select {
	case <-startErr:
	case <-time.After(time.Second):
	}
	for _, srv := range servers {
		if e := srv.Shutdown(); e != nil {
			if srv.PacketConn != nil {
				_ = srv.PacketConn.Close()
			}
			if srv.Listener != nil {
				_ = srv.Listener.Close()
			}
		}
	}
	if err != nil {
		fmt.Fprintf(s.log, "kube-dns: %v\n", err)
	}
	return err
}

// reload re-reads the records file when its metadata changed (rename gives
// a new inode, rewrite a new mtime or size). Errors keep the last good table
// and are logged once until they change.
func (s *Server) reload() {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	info, err := os.Stat(s.recordsFile)
	if err != nil {
		s.logOnce(fmt.Sprintf("records file: %v (keeping %d names)", err, len(s.tbl.Load().names)))
		s.lastInfo = nil
		return
	}
	if prev := s.lastInfo; prev != nil && os.SameFile(prev, info) && prev.ModTime().Equal(info.ModTime()) && prev.Size() == info.Size() {
		return
	}
	s.lastInfo = info
	t, err := loadRecords(s.recordsFile)
	if t != nil {
		s.tbl.Store(t)
		s.serial.Add(1)
	}
	if err != nil {
		s.logOnce(fmt.Sprintf("reload %s: %v", s.recordsFile, err))
		return
	}
	s.lastErr = ""
}

func (s *Server) logOnce(msg string) {
	if msg == s.lastErr {
		return
	}
	s.lastErr = msg
	fmt.Fprintf(s.log, "kube-dns: %s\n", msg)
}

// answer builds the response to req. udp says the reply must fit the
// client's UDP buffer (miekg/dns truncates and sets TC).
func (t *table) answer(req *dns.Msg, udp bool, serial uint32) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = false
	m.Compress = true
	if req.Opcode != dns.OpcodeQuery {
		return m.SetRcode(req, dns.RcodeNotImplemented)
	}
	if len(req.Question) != 1 {
		return m.SetRcode(req, dns.RcodeFormatError)
	}
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		if opt.Version() != 0 {
			m.SetEdns0(1232, false)
			m.Rcode = dns.RcodeBadVers
			return m
		}
		size = max(int(opt.UDPSize()), dns.MinMsgSize)
		m.SetEdns0(1232, false)
	}
	defer func() {
		if udp {
			m.Truncate(size)
		}
	}()

	q := req.Question[0]
	name := strings.ToLower(q.Name)
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		m.Rcode = dns.RcodeRefused
		return m
	}
	if q.Qtype == dns.TypePTR && (dns.IsSubDomain("in-addr.arpa.", name) || dns.IsSubDomain("ip6.arpa.", name)) {
		if names := t.reverseNames(name); len(names) > 0 {
			m.Authoritative = true
			for _, n := range names {
				m.Answer = append(m.Answer, &dns.PTR{Hdr: hdr(q.Name, dns.TypePTR), Ptr: n})
			}
			return m
		}
	}
	if !dns.IsSubDomain(Zone, name) {
		// Nothing to forward to: the lab has no upstream.
		m.Rcode = dns.RcodeRefused
		return m
	}
	m.Authoritative = true
	soa := &dns.SOA{
		Hdr: hdr(Zone, dns.TypeSOA), Ns: "ns.dns." + Zone, Mbox: "hostmaster." + Zone,
		Serial: serial, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: TTL,
	}
	ips, exists := t.lookup(name)
	if !exists {
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{soa}
		return m
	}
	for _, a := range ips {
		switch {
		case a.Is4() && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY):
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(q.Name, dns.TypeA), A: a.AsSlice()})
		case a.Is6() && (q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(q.Name, dns.TypeAAAA), AAAA: a.AsSlice()})
		}
	}
	if name == Zone {
		switch q.Qtype {
		case dns.TypeSOA:
			soa.Hdr.Name = q.Name
			m.Answer = append(m.Answer, soa)
			return m
		case dns.TypeNS:
			m.Answer = append(m.Answer, &dns.NS{Hdr: hdr(q.Name, dns.TypeNS), Ns: "ns.dns." + Zone})
			return m
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{soa}
	}
	return m
}

func hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: TTL}
}

// reverseNames maps an in-addr.arpa / ip6.arpa name to the records that
// hold that address.
func (t *table) reverseNames(name string) []string {
	a, ok := reverseAddr(name)
	if !ok {
		return nil
	}
	return t.reverse[a]
}

func reverseAddr(name string) (netip.Addr, bool) {
	labels := dns.SplitDomainName(name)
	switch {
	case len(labels) == 6 && labels[4] == "in-addr" && labels[5] == "arpa":
		a, err := netip.ParseAddr(labels[3] + "." + labels[2] + "." + labels[1] + "." + labels[0])
		return a, err == nil
	case len(labels) == 34 && labels[32] == "ip6" && labels[33] == "arpa":
		var b [16]byte
		for i := 0; i < 32; i++ {
			l := labels[31-i]
			if len(l) != 1 {
				return netip.Addr{}, false
			}
			var v byte
			switch c := l[0]; {
			case c >= '0' && c <= '9':
				v = c - '0'
			case c >= 'a' && c <= 'f':
				v = c - 'a' + 10
			default:
				return netip.Addr{}, false
			}
			if i%2 == 0 {
				b[i/2] = v << 4
			} else {
				b[i/2] |= v
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}
