package lab

// Denials: the data plane logs every packet it drops to NFLOG group
// NFLOGGroup in the node's namespace. The daemon reads those records on
// every node, names the pods and the policies behind each with the policy
// core, keeps the latest in a ring and serves them (and, with follow, the
// ones still to come) on GET /denials, for `palisade denials`.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/palisade-net/palisade/internal/dataplane"
	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/nflog"
	"github.com/palisade-net/palisade/internal/policy"
)

// denialRingSize bounds the daemon's memory of denials: enough to look
// back at what just failed, without growing on a flood.
const denialRingSize = 1000

// subscriberBuffer is how far a follower may lag before it misses records:
// a follower is never allowed to slow down the reading of the kernel's log.
const subscriberBuffer = 256

// Denial is one packet a node's policy rules dropped, with the pods and
// policies involved. Field names are a contract for `denials -o json`.
type Denial struct {
	// Time is when the kernel received the packet, or when the daemon read
	// the record if the kernel did not stamp it.
	Time time.Time `json:"time"`
	// Node is the lab node whose rules dropped the packet.
	Node string `json:"node"`
	// Direction is the side that refused: "ingress" (the destination pod
	// admits no such connection) or "egress" (the source pod may not open
	// it).
	Direction string `json:"direction"`
	// Reason is "policy" (no rule of Policies admits the packet) or
	// "unsynced" (the address belongs to the pod range but to no pod the
	// data plane knows yet, so it fails closed).
	Reason      string         `json:"reason"`
	Protocol    string         `json:"protocol"`
	Source      DenialEndpoint `json:"source"`
	Destination DenialEndpoint `json:"destination"`
	// Policies are the NetworkPolicies ("namespace/name") that isolate the
	// refusing pod in that direction; none of their rules admits the
	// packet. Empty when the pod is gone by the time the record is read.
	Policies []string `json:"policies"`
	// ClusterPolicy is the ClusterNetworkPolicy rule whose Deny dropped
	// the packet (Policies is then empty: no NetworkPolicy decided); nil
	// for a NetworkPolicy's denial.
	ClusterPolicy *DenialClusterRule `json:"clusterPolicy,omitempty"`
	// Packets counts the packets of this connection attempt that were
	// dropped: the first, and the client's retries of it (a TCP SYN sent
	// again from the same port, a UDP datagram sent again on the same
	// flow within retryWindow), which are not listed again.
	Packets int `json:"packets"`
}

// retryWindow is how long a packet of the same flow (addresses, ports,
// protocol, side) counts as a retry of the attempt, not a new one: Linux
// gives up a SYN after about two minutes at its default of 6 retries.
const retryWindow = 3 * time.Minute

// flowKey identifies a connection attempt.
type flowKey struct {
	direction, protocol string
	src, dst            DenialEndpoint
}

func (d *Denial) flow() flowKey {
	return flowKey{direction: d.Direction, protocol: d.Protocol, src: DenialEndpoint{IP: d.Source.IP, Port: d.Source.Port}, dst: DenialEndpoint{IP: d.Destination.IP, Port: d.Destination.Port}}
}

// DenialEndpoint is one side of a denied packet. Services are already
// resolved: ingress and egress rules judge packets after DNAT, so the
// destination is the pod's address and its target port.
type DenialEndpoint struct {
	// Pod is "namespace/name", or empty when the address is not a pod's
	// (a node, or an address outside the cluster).
	Pod  string `json:"pod,omitempty"`
	IP   string `json:"ip"`
	Port uint16 `json:"port,omitempty"`
}

// DenialClusterRule names a ClusterNetworkPolicy rule.
type DenialClusterRule struct {
	Name     string `json:"name"`
	Tier     string `json:"tier"`
	Priority int32  `json:"priority"`
	Rule     string `json:"rule"` // spec.ingress[0]
	RuleName string `json:"ruleName,omitempty"`
	Action   string `json:"action"`
}

func (r *DenialClusterRule) String() string {
	s := "ClusterNetworkPolicy " + r.Name + " " + r.Rule
	if r.RuleName != "" {
		s += fmt.Sprintf(" %q", r.RuleName)
	}
	return s + fmt.Sprintf(" (%s, priority %d)", r.Tier, r.Priority)
}

// Involves reports whether either side is a pod in namespace ns.
func (d *Denial) Involves(ns string) bool {
	return strings.HasPrefix(d.Source.Pod, ns+"/") || strings.HasPrefix(d.Destination.Pod, ns+"/")
}

// attributeDenial turns a record into a Denial, naming pods and policies
// with e (the engine whose rules are in force; nil before the first sync).
// Records that are not the data plane's denials are refused.
func attributeDenial(e *policy.Engine, node string, r nflog.Record, now time.Time) (Denial, bool) {
	dir, reason, ok := dataplane.ParseLogPrefix(r.Prefix)
	if !ok {
		return Denial{}, false
	}
	p := r.Packet
	d := Denial{
		Time: r.Time, Node: node, Direction: strings.ToLower(dir.String()), Reason: reason, Protocol: p.ProtocolName(),
		Source:      DenialEndpoint{IP: p.Src.String()},
		Destination: DenialEndpoint{IP: p.Dst.String()},
		Policies:    []string{},
	}
	// A stamp far from the clock is not wall time (the kernel can carry a
	// monotonic delivery time in the same field); the read time is then
	// the better answer, milliseconds late at worst.
	if d.Time.IsZero() || d.Time.Sub(now).Abs() > time.Minute {
		d.Time = now
	}
	if p.HasPorts {
		d.Source.Port, d.Destination.Port = p.SrcPort, p.DstPort
	}
	if e == nil {
		return d, true
	}
	src, srcOK := e.PodByIP(p.Src)
	dst, dstOK := e.PodByIP(p.Dst)
	if srcOK {
		d.Source.Pod = src.String()
	}
	if dstOK {
		d.Destination.Pod = dst.String()
	}
	refusing, ok := dst, dstOK
	if dir == policy.Egress {
		refusing, ok = src, srcOK
	}
	if ok && reason == "policy" {
		in, out := e.Isolation(refusing)
		pols := in
		if dir == policy.Egress {
			pols = out
		}
		for _, k := range pols {
			d.Policies = append(d.Policies, k.String())
		}
		if r := clusterDeny(e, dir, p, src, srcOK, dst, dstOK); r != nil {
			d.ClusterPolicy, d.Policies = r, []string{}
		}
	}
	return d, true
}

// clusterDeny asks the engine which rule decided the refusing side of the
// packet's connection: the ClusterNetworkPolicy rule when a Deny of the
// Admin or Baseline tier did, nil otherwise. Protocols the engine does not
// name (ICMP...) are not asked: a NetworkPolicy cannot admit them either,
// so the isolating policies stay the answer.
func clusterDeny(e *policy.Engine, dir policy.Direction, p nflog.Packet, src policy.PodKey, srcOK bool, dst policy.PodKey, dstOK bool) *DenialClusterRule {
	var proto corev1.Protocol
	switch p.ProtocolName() {
	case "TCP", "UDP", "SCTP":
		proto = corev1.Protocol(p.ProtocolName())
	default:
		return nil
	}
	c := policy.Conn{Src: policy.Endpoint{IP: p.Src}, Dst: policy.Endpoint{IP: p.Dst}, Protocol: proto, Port: int32(p.DstPort)}
	if srcOK {
		c.Src.Pod = &src
	}
	if dstOK {
		c.Dst.Pod = &dst
	}
	v := e.Explain(c)
	sv := v.Ingress
	if dir == policy.Egress {
		sv = v.Egress
	}
	r := sv.ClusterRule
	if sv.Allowed || r == nil {
		return nil
	}
	return &DenialClusterRule{Name: r.Policy, Tier: string(r.Tier), Priority: r.Priority, Rule: r.Field(), RuleName: r.Name, Action: string(r.Action)}
}

// denialEvent is one line of the /denials stream: a denial, a count of
// denials that were not recorded (the kernel's queue overflowed, or this
// follower fell behind), or the mark between history and live records.
type denialEvent struct {
	*Denial
	Lost uint64 `json:"lost,omitempty"`
	Live bool   `json:"live,omitempty"`
}

// denialLog is the ring of recent denials and the followers waiting for
// new ones. It has its own lock: readers of the kernel's log never wait
// for the controller.
type denialLog struct {
	mu   sync.Mutex
	ring []Denial // oldest at start once full
	// start indexes the oldest record once the ring is full.
	start int
	// lost counts denials the kernel dropped before we could read them.
	lost uint64
	subs map[*denialSub]struct{}
	// done is closed when the daemon stops, ending every follower.
	done     chan struct{}
	stopOnce sync.Once
	// attempts finds the ring slot of a flow's attempt, to count its
	// retries there; a slot reused by a newer denial no longer counts.
	attempts map[flowKey]attempt
}

type attempt struct {
	slot int
	at   time.Time
}

type denialSub struct {
	namespace string
	ch        chan denialEvent
	// missed counts records dropped because ch was full; the follower is
	// told before its next record. Guarded by denialLog.mu.
	missed uint64
}

func newDenialLog() *denialLog {
	return &denialLog{ring: make([]Denial, 0, denialRingSize), subs: map[*denialSub]struct{}{}, done: make(chan struct{}), attempts: map[flowKey]attempt{}}
}

func (l *denialLog) stop() { l.stopOnce.Do(func() { close(l.done) }) }

// add records a denial (nil when the record only reports losses) and
// passes it on to followers.
func (l *denialLog) add(d *Denial, lostBefore uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lostBefore > 0 {
		l.lost += lostBefore
		for s := range l.subs {
			s.missed += lostBefore
		}
	}
	if d != nil {
		key := d.flow()
		if a, ok := l.attempts[key]; ok && d.Time.Sub(a.at) < retryWindow && d.Time.Sub(a.at) >= 0 && l.ring[a.slot].flow() == key {
			// A retry: counted on its attempt, not listed again (and not
			// passed on to followers, who have the attempt already).
			l.ring[a.slot].Packets++
			d = nil
		}
	}
	if d != nil {
		key := d.flow()
		d.Packets = 1
		slot := len(l.ring)
		if len(l.ring) < denialRingSize {
			l.ring = append(l.ring, *d)
		} else {
			slot = l.start
			delete(l.attempts, l.ring[slot].flow())
			l.ring[slot] = *d
			l.start = (l.start + 1) % denialRingSize
		}
		l.attempts[key] = attempt{slot: slot, at: d.Time}
	}
	for s := range l.subs {
		if s.missed > 0 {
			select {
			case s.ch <- denialEvent{Lost: s.missed}:
				s.missed = 0
			default:
			}
		}
		if d == nil || (s.namespace != "" && !d.Involves(s.namespace)) {
			continue
		}
		if s.missed > 0 {
			s.missed++
			continue
		}
		select {
		case s.ch <- denialEvent{Denial: d}:
		default:
			s.missed++
		}
	}
}

// recent returns the last tail denials (all kept when tail < 0) that
// involve namespace ("" for all), oldest first, and the kernel's losses so
// far; with follow it also subscribes, atomically, so nothing falls
// between the history and the stream.
func (l *denialLog) recent(namespace string, tail int, follow bool) ([]Denial, uint64, *denialSub) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Denial
	for i := range l.ring {
		d := &l.ring[(l.start+i)%len(l.ring)]
		if namespace == "" || d.Involves(namespace) {
			out = append(out, *d)
		}
	}
	if tail >= 0 && len(out) > tail {
		out = out[len(out)-tail:]
	}
	var sub *denialSub
	if follow {
		sub = &denialSub{namespace: namespace, ch: make(chan denialEvent, subscriberBuffer)}
		l.subs[sub] = struct{}{}
	}
	return out, l.lost, sub
}

func (l *denialLog) unsubscribe(s *denialSub) {
	l.mu.Lock()
	delete(l.subs, s)
	l.mu.Unlock()
}

// startDenials reads every node's log until ctx ends. Nodes are fixed when
// the lab is made, so this runs once per daemon, for a new lab and for an
// adopted one alike.
func (d *Daemon) startDenials(ctx context.Context) {
	context.AfterFunc(ctx, d.denials.stop)
	d.c.mu.Lock()
	nodes := slices.Clone(d.c.st.Nodes)
	d.c.mu.Unlock()
	for _, n := range nodes {
		go d.readDenials(ctx, n.Name, n.Netns)
	}
}

// readDenials binds the node's NFLOG group and records what arrives. A
// failure to bind (another process holding the group, say) is retried,
// so the log recovers without a restart.
func (d *Daemon) readDenials(ctx context.Context, node, netns string) {
	const retry = 2 * time.Second
	lastErr := ""
	for ctx.Err() == nil {
		l, err := nflog.Listen(NFLOGGroup, nflog.Options{Netns: plumbing.NetnsPath(netns)})
		if err == nil {
			err = l.Receive(ctx, func(r nflog.Record) {
				den, ok := attributeDenial(d.c.enforced.Load(), node, r, time.Now())
				switch {
				case ok:
					d.denials.add(&den, r.Lost)
				case r.Lost > 0:
					d.denials.add(nil, r.Lost)
				}
			})
			_ = l.Close()
		}
		if err != nil && err.Error() != lastErr {
			// Logged once per distinct failure: a retry loop must not
			// fill the daemon's log.
			d.c.log.Error("reading denied packets", "node", node, "err", err)
			lastErr = err.Error()
		}
		select {
		case <-ctx.Done():
		case <-time.After(retry):
		}
	}
}

// serveDenials answers GET /denials: JSON lines, oldest first.
// ?namespace=NS keeps denials with a pod of NS on either side; ?tail=N
// keeps the last N; ?follow=1 keeps the response open and sends new
// denials as they come, one line each.
func (d *Daemon) serveDenials(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tail := -1
	if s := q.Get("tail"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			http.Error(w, "tail must be a number", http.StatusBadRequest)
			return
		}
		tail = n
	}
	follow, _ := strconv.ParseBool(q.Get("follow"))
	history, lost, sub := d.denials.recent(q.Get("namespace"), tail, follow)
	if sub != nil {
		defer d.denials.unsubscribe(sub)
	}
	w.Header().Set("Content-Type", "application/jsonl")
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	for i := range history {
		if err := enc.Encode(denialEvent{Denial: &history[i]}); err != nil {
			return
		}
	}
	if lost > 0 {
		if err := enc.Encode(denialEvent{Lost: lost}); err != nil {
			return
		}
	}
	if sub == nil {
		return
	}
	if err := enc.Encode(denialEvent{Live: true}); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-d.denials.done:
			return
		case ev := <-sub.ch:
			if err := enc.Encode(ev); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

// DenialsOptions choose what Client.Denials returns.
type DenialsOptions struct {
	// Namespace keeps denials with a pod of this namespace on either side
	// ("" for all).
	Namespace string
	// Tail keeps only the last Tail recorded denials (< 0: all the daemon
	// keeps, up to 1000).
	Tail int
	// Follow keeps streaming new denials until ctx ends.
	Follow bool
}

// DenialEvent is what Client.Denials reports: a denial; or, with Denial
// nil, a count of denials that went unrecorded (Lost), or the moment a
// followed stream has sent what was recorded and goes live (Live).
type DenialEvent struct {
	Denial *Denial
	Lost   uint64
	Live   bool
}

// Denials reads the daemon's recent denials, and new ones with Follow,
// calling fn for each in order. It returns when the daemon has sent
// everything asked for, when ctx ends, or when fn fails.
func (c *Client) Denials(ctx context.Context, o DenialsOptions, fn func(DenialEvent) error) error {
	q := url.Values{}
	if o.Namespace != "" {
		q.Set("namespace", o.Namespace)
	}
	if o.Tail >= 0 {
		q.Set("tail", strconv.Itoa(o.Tail))
	}
	if o.Follow {
		q.Set("follow", "1")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://lab/denials?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	// A followed stream lives as long as the user wants it: no client
	// timeout, only ctx.
	hc := *c.http
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("lab daemon: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("lab daemon: GET /denials: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev denialEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("lab daemon answered badly: %w", err)
		}
		if err := fn(DenialEvent{Denial: ev.Denial, Lost: ev.Lost, Live: ev.Live}); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
		return fmt.Errorf("lab daemon: %w", err)
	}
	return nil
}
