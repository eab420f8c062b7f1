package lab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/lab/plumbing"
	"github.com/palisade-net/palisade/internal/lab/state"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
)

// ProbeOptions choose what `probe` measures.
type ProbeOptions struct {
	Port       int32
	Protocol   corev1.Protocol
	Namespaces []string // empty: every namespace but kube-system
	// Via says how a destination is dialled: ViaService through a service
	// that selects only that pod (as the upstream suite does), ViaPod to
	// the pod's address, ViaAuto (the default) through the pod's service
	// where one serves the port and to the pod where none does. A pair that
	// cannot be dialled the way chosen is not measured, never dialled
	// another way.
	Via         string
	Timeout     time.Duration
	Attempts    int // a probe that disagrees with the prediction is retried
	Concurrency int
}

// How probe dials a destination (ProbeOptions.Via).
const (
	ViaAuto    = "auto"
	ViaService = "service"
	ViaPod     = "pod"
)

// ProbeResult is the measured matrix beside the engine's prediction.
type ProbeResult struct {
	analysis.Matrix
	Expected   [][]bool   `json:"expected"`
	Mismatches []Mismatch `json:"mismatches"`
	// Targets says, per destination, what was dialled.
	Targets []string `json:"targets"`
	// NotMeasured lists the pairs no connection was made for, and why; their
	// matrix cells are false and they are in no mismatch.
	NotMeasured []Unmeasured `json:"notMeasured"`
}

// Unmeasured is a pair probe could not dial the way it was asked to.
type Unmeasured struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Reason string `json:"reason"`
}

// Mismatch is a pair where packets and prediction disagree.
type Mismatch struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Expected bool   `json:"expected"`
	Measured bool   `json:"measured"`
}

type probeTarget struct {
	addr     netip.Addr
	port     int32 // dialled port
	podPort  int32 // port the policy sees (after DNAT)
	describe string
	// unusable says why the destination cannot be dialled as asked ("":
	// it can).
	unusable string
}

// Probe opens a real connection from every selected pod to every selected
// pod and compares each outcome with the engine's verdict on the same state.
func Probe(ctx context.Context, st *state.State, o ProbeOptions) (*ProbeResult, error) {
	o.Protocol = validation.ProtocolOrTCP(o.Protocol)
	if o.Protocol == corev1.ProtocolSCTP {
		return nil, fmt.Errorf("SCTP cannot be probed here: this kernel has no SCTP sockets (the SCTP rules are installed all the same)")
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	switch o.Via {
	case "":
		o.Via = ViaAuto
	case ViaAuto, ViaService, ViaPod:
	default:
		return nil, fmt.Errorf("--via must be auto, service or pod, not %q", o.Via)
	}
	want := map[string]bool{}
	for _, n := range o.Namespaces {
		want[n] = true
	}
	var pods []*corev1.Pod
	for _, k := range slices.Sorted(maps.Keys(st.Pods)) {
		p := st.Pods[k]
		if st.Runtime[k] == nil || len(p.Status.PodIPs) == 0 {
			continue
		}
		if (len(want) > 0 && !want[p.Namespace]) || (len(want) == 0 && p.Namespace == "kube-system") {
			continue
		}
		pods = append(pods, p)
	}
	e := Engine(st)
	res := &ProbeResult{Matrix: analysis.Matrix{Protocol: string(o.Protocol), Port: o.Port}}
	targets := make([]probeTarget, len(pods))
	for j, p := range pods {
		res.Pods = append(res.Pods, p.Namespace+"/"+p.Name)
		targets[j] = chooseTarget(st, p, o)
		res.Targets = append(res.Targets, targets[j].describe)
	}
	n := len(pods)
	res.Matrix.Matrix = make([][]bool, n)
	res.Expected = make([][]bool, n)
	for i := range pods {
		res.Matrix.Matrix[i] = make([]bool, n)
		res.Expected[i] = make([]bool, n)
		for j := range pods {
			src := policy.PodKey{Namespace: pods[i].Namespace, Name: pods[i].Name}
			dst := policy.PodKey{Namespace: pods[j].Namespace, Name: pods[j].Name}
			res.Expected[i][j] = e.Allowed(policy.Conn{Src: policy.Endpoint{Pod: &src}, Dst: policy.Endpoint{Pod: &dst},
				Protocol: o.Protocol, Port: targets[j].podPort})
		}
	}
	sem := make(chan struct{}, o.Concurrency)
	var wg sync.WaitGroup
	for i := range pods {
		rt := st.Runtime[state.Key(pods[i].Namespace, pods[i].Name)]
		for j := range pods {
			if targets[j].unusable != "" {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				ok := false
				for a := 0; a < o.Attempts && ctx.Err() == nil; a++ {
					ok = connect(rt.Netns, o.Protocol, targets[j], o.Timeout)
					if ok == res.Expected[i][j] {
						break
					}
				}
				res.Matrix.Matrix[i][j] = ok
			}()
		}
	}
	wg.Wait()
	res.NotMeasured = []Unmeasured{}
	for i := range pods {
		for j := range pods {
			if why := targets[j].unusable; why != "" {
				res.NotMeasured = append(res.NotMeasured, Unmeasured{From: res.Pods[i], To: res.Pods[j], Reason: why})
				continue
			}
			if res.Matrix.Matrix[i][j] != res.Expected[i][j] {
				res.Mismatches = append(res.Mismatches, Mismatch{From: res.Pods[i], To: res.Pods[j], Expected: res.Expected[i][j], Measured: res.Matrix.Matrix[i][j]})
			}
		}
	}
	if res.Mismatches == nil {
		res.Mismatches = []Mismatch{}
	}
	return res, ctx.Err()
}

// chooseTarget decides how to dial pod p (see ProbeOptions.Via). A
// service is used only when it leads to p alone, so that the packets reach
// the pod the prediction is about; the prediction is then made for the port
// the service translates to.
func chooseTarget(st *state.State, p *corev1.Pod, o ProbeOptions) probeTarget {
	podIP, _ := netip.ParseAddr(p.Status.PodIP)
	direct := probeTarget{addr: podIP, port: o.Port, podPort: o.Port, describe: "pod " + net.JoinHostPort(podIP.String(), strconv.Itoa(int(o.Port)))}
	if o.Via == ViaPod {
		return direct
	}
	self := state.Key(p.Namespace, p.Name)
	var why []string // services of p that serve the port but cannot be used
	for _, k := range slices.Sorted(maps.Keys(st.Services)) {
		svc := st.Services[k]
		if svc.Namespace != p.Namespace || len(svc.Spec.Selector) == 0 {
			continue
		}
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(p.Labels)) {
			continue
		}
		eps := ServiceEndpoints(st, svc)
		for _, sp := range svc.Spec.Ports {
			if sp.Port != o.Port || sp.Protocol != o.Protocol {
				continue
			}
			vip, err := netip.ParseAddr(svc.Spec.ClusterIP)
			if err != nil {
				why = append(why, fmt.Sprintf("service %s has no cluster IP", svc.Name))
				continue
			}
			list := eps[sp.Name]
			others := map[string]bool{}
			mine := false
			for _, ep := range list {
				if ep.Pod == self {
					mine = true
				} else {
					others[ep.Pod] = true
				}
			}
			switch {
			case !mine:
				why = append(why, fmt.Sprintf("service %s port %d/%s has no ready endpoint on %s", svc.Name, sp.Port, sp.Protocol, p.Name))
				continue
			case len(others) > 0:
				why = append(why, fmt.Sprintf("service %s port %d/%s leads to %d pods, not to %s alone", svc.Name, sp.Port, sp.Protocol, len(others)+1, p.Name))
				continue
			}
			port := list[0].Port
			for _, ep := range list {
				if ep.Pod == self {
					port = ep.Port
				}
			}
			return probeTarget{addr: vip, port: sp.Port, podPort: port,
				describe: fmt.Sprintf("service %s (%s -> pod port %d)", svc.Name, net.JoinHostPort(vip.String(), strconv.Itoa(int(sp.Port))), port)}
		}
	}
	switch {
	case len(why) > 0:
		hint := "; --via pod dials the pod's own port instead"
		return probeTarget{describe: "not measured", unusable: strings.Join(why, "; ") + hint}
	case o.Via == ViaService:
		return probeTarget{describe: "not measured", unusable: fmt.Sprintf("no service of %s serves %d/%s", p.Name, o.Port, o.Protocol)}
	}
	return direct
}

// connect makes one real attempt from inside a pod: TCP must connect, UDP
// must get a reply to its request. A refusal (RST, or ICMP port
// unreachable) also proves the packets got through: policy drops, it never
// refuses, so only silence counts as denied.
func connect(netns string, proto corev1.Protocol, t probeTarget, timeout time.Duration) bool {
	addr := net.JoinHostPort(t.addr.String(), strconv.Itoa(int(t.port)))
	if proto == corev1.ProtocolUDP {
		c, err := plumbing.Dial(netns, "udp", addr, timeout)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(timeout))
		if _, err := c.Write([]byte("hostname\n")); err != nil {
			return false
		}
		buf := make([]byte, 1500)
		n, err := c.Read(buf)
		return (err == nil && n > 0) || errors.Is(err, syscall.ECONNREFUSED)
	}
	c, err := plumbing.Dial(netns, "tcp", addr, timeout)
	if err != nil {
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	c.Close()
	return true
}
