package analysis

import (
	"runtime"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/policy"
	"github.com/palisade-net/palisade/internal/validation"
)

// Matrix is the connectivity matrix for one protocol and port, in the shape
// docs/design.md fixes for `matrix -o json`: Matrix[i][j] says whether Pods[i]
// may open a connection to Pods[j].
type Matrix struct {
	Protocol string   `json:"protocol"`
	Port     int32    `json:"port"`
	Pods     []string `json:"pods"`
	Matrix   [][]bool `json:"matrix"`
}

// Allowed counts the allowed pairs.
func (m *Matrix) Allowed() int {
	n := 0
	for _, row := range m.Matrix {
		for _, ok := range row {
			if ok {
				n++
			}
		}
	}
	return n
}

// ComputeMatrix evaluates every ordered pair of pods. Rows are spread over
// the CPUs: the engine answers concurrent reads.
func ComputeMatrix(e *policy.Engine, pods []policy.PodKey, proto corev1.Protocol, port int32, family int) *Matrix {
	proto = validation.ProtocolOrTCP(proto)
	m := &Matrix{Protocol: string(proto), Port: port, Pods: make([]string, len(pods)), Matrix: make([][]bool, len(pods))}
	eps := make([]policy.Endpoint, len(pods))
	for i := range pods {
		m.Pods[i] = pods[i].String()
		eps[i] = policy.Endpoint{Pod: &pods[i]}
	}
	var wg sync.WaitGroup
	rows := make(chan int, len(pods))
	for i := range pods {
		rows <- i
	}
	close(rows)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rows {
				row := make([]bool, len(pods))
				for j := range pods {
					row[j] = e.Allowed(policy.Conn{Src: eps[i], Dst: eps[j], Protocol: proto, Port: port, Family: family})
				}
				m.Matrix[i] = row
			}
		}()
	}
	wg.Wait()
	return m
}

// ProtoPort is a protocol and port pair. Other marks the port that stands
// for every port no rule names.
type ProtoPort struct {
	Protocol corev1.Protocol
	Port     int32
	Other    bool
}

// NamedPorts lists the ports the policies speak of, so a matrix without
// --port can summarise the ones that matter: numbers, both ends of ranges,
// named ports resolved on every pod that has them, and one port no rule
// names (which stands for "any other port").
func NamedPorts(policies []*networkingv1.NetworkPolicy, pods []*corev1.Pod) []ProtoPort {
	seen := map[ProtoPort]bool{}
	names := map[string]corev1.Protocol{}
	add := func(ps []networkingv1.NetworkPolicyPort) {
		for _, p := range ps {
			proto := validation.PolicyPortProtocol(p.Protocol)
			switch {
			case p.Port == nil:
			case p.Port.Type == intstr.String:
				names[p.Port.StrVal+"/"+string(proto)] = proto
			default:
				seen[ProtoPort{Protocol: proto, Port: p.Port.IntVal}] = true
				if p.EndPort != nil {
					seen[ProtoPort{Protocol: proto, Port: *p.EndPort}] = true
				}
			}
		}
	}
	for _, np := range policies {
		for _, r := range np.Spec.Ingress {
			add(r.Ports)
		}
		for _, r := range np.Spec.Egress {
			add(r.Ports)
		}
	}
	for _, p := range pods {
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				proto := validation.ProtocolOrTCP(cp.Protocol)
				if _, ok := names[cp.Name+"/"+string(proto)]; ok && cp.Name != "" {
					seen[ProtoPort{Protocol: proto, Port: cp.ContainerPort}] = true
				}
			}
		}
	}
	// A port nobody names shows what "every other port" does.
	other := int32(1)
	for seen[ProtoPort{Protocol: corev1.ProtocolTCP, Port: other}] {
		other++
	}
	out := make([]ProtoPort, 0, len(seen)+1)
	for pp := range seen {
		out = append(out, pp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Protocol != out[j].Protocol {
			return out[i].Protocol < out[j].Protocol
		}
		return out[i].Port < out[j].Port
	})
	return append(out, ProtoPort{Protocol: corev1.ProtocolTCP, Port: other, Other: true})
}

// ExplainPair is the verdict on one pod to pod connection, with the rules
// behind each side, as check prints it.
func ExplainPair(s *cluster.Snapshot, e *policy.Engine, src, dst policy.PodKey, proto corev1.Protocol, port int32, family int) Connection {
	v := e.Explain(policy.Conn{Src: policy.Endpoint{Pod: &src}, Dst: policy.Endpoint{Pod: &dst}, Protocol: proto, Port: port, Family: family})
	c := Connection{From: src.String(), To: dst.String(), Protocol: string(proto), Port: port, Allowed: v.Allowed,
		Egress: side(s, v.Egress, policy.Endpoint{Pod: &src}, v.DstIP), Ingress: side(s, v.Ingress, policy.Endpoint{Pod: &dst}, v.SrcIP)}
	if v.SrcIP.IsValid() {
		c.SrcIP = v.SrcIP.String()
	}
	if v.DstIP.IsValid() {
		c.DstIP = v.DstIP.String()
	}
	return c
}
