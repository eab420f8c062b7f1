package kubedns

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/miekg/dns"
)

// Zone is the cluster domain the server is authoritative for.
const Zone = "cluster.local."

// TTL of every answer, and the negative-caching TTL in the SOA: short, so a
// service created or deleted in the lab is seen within seconds.
const TTL = 5

// maxRecordsFile bounds what the loader reads; the lab's file is far smaller.
const maxRecordsFile = 64 << 20

// Record is one name the server answers: "<svc>.<ns>.svc.cluster.local." for
// a ClusterIP service (or any other name under cluster.local) with its
// addresses, IPv4 and/or IPv6.
type Record struct {
	Name string   `json:"name"`
	IPs  []string `json:"ips"`
}

// RecordsFile is the JSON document the lab writes: {"records":[...]}.
type RecordsFile struct {
	Records []Record `json:"records"`
}

// WriteRecords replaces path atomically (write, then rename in the same
// directory) so the server never reads half a file.
func WriteRecords(path string, records []Record) error {
	data, err := json.MarshalIndent(RecordsFile{Records: records}, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(append(data, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// table is an immutable snapshot of the records; a reload swaps in a new one.
type table struct {
	names map[string][]netip.Addr // lower-case FQDN -> addresses
	// parents are the names that exist only because something below them
	// does (svc.cluster.local., <ns>.svc.cluster.local.): NODATA, not
	// NXDOMAIN.
	parents map[string]bool
	reverse map[netip.Addr][]string
}

func emptyTable() *table {
	return &table{names: map[string][]netip.Addr{}, parents: map[string]bool{}, reverse: map[netip.Addr][]string{}}
}

// loadRecords reads and parses the records file.
func loadRecords(path string) (*table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, maxRecordsFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxRecordsFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxRecordsFile)
	}
	return parseRecords(data)
}

// parseRecords builds a table from the file's contents. Malformed JSON
// yields no table (the server keeps the previous one); bad entries are
// skipped and reported in the error while the good ones load.
func parseRecords(data []byte) (*table, error) {
	var rf RecordsFile
	if err := json.Unmarshal(data, &rf); err != nil {
		return nil, fmt.Errorf("records file: %v", err)
	}
	t := emptyTable()
	var problems []string
	for i, r := range rf.Records {
		name, err := canonicalName(r.Name)
		if err != nil {
			problems = append(problems, fmt.Sprintf("record %d: %v", i, err))
			continue
		}
		for _, s := range r.IPs {
			a, err := netip.ParseAddr(strings.TrimSpace(s))
			if err != nil || a.Zone() != "" {
				problems = append(problems, fmt.Sprintf("record %d (%s): bad IP %q", i, name, s))
				continue
			}
			a = a.Unmap()
			if !containsAddr(t.names[name], a) {
				t.names[name] = append(t.names[name], a)
				t.reverse[a] = append(t.reverse[a], name)
			}
		}
		if _, ok := t.names[name]; !ok {
			// A record without addresses still makes its name exist.
			t.names[name] = nil
		}
	}
	for name := range t.names {
		for p := parentName(name); p != "" && p != Zone; p = parentName(p) {
			t.parents[p] = true
		}
	}
	if len(problems) > 0 {
		const show = 5
		msg := strings.Join(problems[:min(show, len(problems))], "; ")
		if len(problems) > show {
			msg += fmt.Sprintf("; and %d more", len(problems)-show)
		}
		return t, errors.New(msg)
	}
	return t, nil
}

func canonicalName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty name")
	}
	name := strings.ToLower(dns.Fqdn(s))
	if _, ok := dns.IsDomainName(name); !ok {
		return "", fmt.Errorf("bad name %q", s)
	}
	if name == Zone || !dns.IsSubDomain(Zone, name) {
		return "", fmt.Errorf("name %q is not under %s", s, Zone)
	}
	return name, nil
}

func containsAddr(as []netip.Addr, a netip.Addr) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}

// parentName drops the first label of an FQDN ("" at the root).
func parentName(name string) string {
	if name == "." || name == "" {
		return ""
	}
	off, end := dns.NextLabel(name, 0)
	if end {
		return "."
	}
	return name[off:]
}

// lookup reports a name's addresses and whether it exists at all.
func (t *table) lookup(name string) ([]netip.Addr, bool) {
	if ips, ok := t.names[name]; ok {
		return ips, true
	}
	if a, ok := podAddr(name); ok {
		return []netip.Addr{a}, true
	}
	return nil, name == Zone || t.parents[name]
}

// podAddr resolves "<ip-with-dashes>.<ns>.pod.cluster.local." as kube-dns
// and CoreDNS ("pods insecure") do: any well-formed address, no check that
// a pod has it.
func podAddr(name string) (netip.Addr, bool) {
	labels := dns.SplitDomainName(name)
	if len(labels) != 5 || labels[2] != "pod" || labels[3] != "cluster" || labels[4] != "local" || labels[1] == "" {
		return netip.Addr{}, false
	}
	dashed := labels[0]
	if a, err := netip.ParseAddr(strings.ReplaceAll(dashed, "-", ".")); err == nil && a.Is4() {
		return a, true
	}
	if a, err := netip.ParseAddr(strings.ReplaceAll(dashed, "-", ":")); err == nil && a.Is6() && a.Zone() == "" {
		return a, true
	}
	return netip.Addr{}, false
}
