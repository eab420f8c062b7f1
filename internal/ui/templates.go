package ui

import (
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/palisade-net/palisade/internal/validation"
)

// Template is a starter policy for one of the cases the tutorials teach,
// filled in with the loaded workloads' own namespaces and labels so that
// it selects something the moment it is inserted.
type Template struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
	YAML        string `json:"yaml"`
}

// generatedLabels are set by controllers, not by users; a template that
// selects on them would select one revision of one workload.
var generatedLabels = map[string]bool{
	"pod-template-hash": true, "controller-revision-hash": true, "statefulset.kubernetes.io/pod-name": true,
	"batch.kubernetes.io/controller-uid": true, "controller-uid": true, "batch.kubernetes.io/job-name": true,
	"job-name": true, "apps.kubernetes.io/pod-index": true, "pod-template-generation": true,
}

// templates builds the starter policies for the world.
func templates(wd *world, defaultNS string) []Template {
	ns := templateNamespace(wd, defaultNS)
	target, client := templateLabels(wd, ns)
	other := "monitoring"
	for _, n := range wd.nsNames {
		if n != ns && n != "kube-system" && len(wd.byNS[n]) > 0 {
			other = n
			break
		}
	}
	taken := map[string]bool{}
	for _, np := range wd.inForce {
		taken[np.Namespace+"/"+np.Name] = true
	}
	name := func(base string) string {
		n := base
		for i := 2; taken[ns+"/"+n]; i++ {
			n = base + "-" + strconv.Itoa(i)
		}
		return n
	}
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	port := func(proto *corev1.Protocol, n int32) networkingv1.NetworkPolicyPort {
		p := intstr.FromInt32(n)
		return networkingv1.NetworkPolicyPort{Protocol: proto, Port: &p}
	}
	ingress := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
	egress := []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
	mk := func(n string, spec networkingv1.NetworkPolicySpec) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: name(n), Namespace: ns}, Spec: spec}
	}
	targetSel := metav1.LabelSelector{MatchLabels: target}
	targetPorts := []networkingv1.NetworkPolicyPort{}
	if p, ok := firstPort(wd, ns, target); ok {
		proto := validation.ProtocolOrTCP(p.Protocol)
		targetPorts = append(targetPorts, port(&proto, p.ContainerPort))
	}
	list := []struct {
		id, title, desc string
		np              *networkingv1.NetworkPolicy
	}{
		{"default-deny-ingress", "Default deny ingress",
			"Isolates every pod of the namespace for ingress: nothing may open a connection to them until another policy allows it.",
			mk("default-deny-ingress", networkingv1.NetworkPolicySpec{PolicyTypes: ingress})},
		{"default-deny-egress", "Default deny egress",
			"Isolates every pod of the namespace for egress: they may open no connection, DNS included, until another policy allows it.",
			mk("default-deny-egress", networkingv1.NetworkPolicySpec{PolicyTypes: egress})},
		{"default-deny-all", "Default deny ingress and egress",
			"Both directions closed for every pod of the namespace.",
			mk("default-deny-all", networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}})},
		{"allow-dns", "Allow DNS to kube-dns",
			"Lets every pod of the namespace reach the cluster DNS (pods labelled k8s-app=kube-dns in kube-system) on port 53, UDP and TCP: what a default deny egress takes away.",
			mk("allow-dns", networkingv1.NetworkPolicySpec{PolicyTypes: egress, Egress: []networkingv1.NetworkPolicyEgressRule{{
				To: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "kube-system"}},
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{dnsLabel: "kube-dns"}},
				}},
				Ports: []networkingv1.NetworkPolicyPort{port(&udp, 53), port(&tcp, 53)},
			}}})},
		{"allow-from-namespace", "Allow from a namespace",
			"Admits every pod of one namespace, named by the label kubernetes.io/metadata.name the API server puts on every namespace.",
			mk("allow-from-"+other, networkingv1.NetworkPolicySpec{PodSelector: targetSel, PolicyTypes: ingress,
				Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: other}},
				}}}}})},
		{"allow-from-pods", "Allow from pods with a label",
			"Admits the pods of the same namespace that carry a label; pods elsewhere stay out (a podSelector alone means this namespace).",
			mk("allow-from-"+labelName(client), networkingv1.NetworkPolicySpec{PodSelector: targetSel, PolicyTypes: ingress,
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: client}}},
					Ports: targetPorts,
				}}})},
		{"allow-egress-cidr", "Allow egress to a CIDR, with exceptions",
			"Lets the selected pods open connections to a block of addresses outside the cluster, except a smaller block inside it.",
			mk("allow-egress-to-cidr", networkingv1.NetworkPolicySpec{PodSelector: targetSel, PolicyTypes: egress,
				Egress: []networkingv1.NetworkPolicyEgressRule{{
					To:    []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "172.17.0.0/16", Except: []string{"172.17.1.0/24"}}}},
					Ports: []networkingv1.NetworkPolicyPort{port(&tcp, 443)},
				}}})},
	}
	out := make([]Template, 0, len(list))
	for _, t := range list {
		if len(t.np.Spec.Ingress) > 0 && len(t.np.Spec.Ingress[0].Ports) == 0 {
			t.np.Spec.Ingress[0].Ports = nil
		}
		y, err := PolicyYAML([]*networkingv1.NetworkPolicy{t.np})
		if err != nil {
			continue
		}
		out = append(out, Template{ID: t.id, Title: t.title, Description: t.desc, YAML: comment(t.title+": "+t.desc) + y})
	}
	return out
}

// comment wraps text into YAML comment lines that fit an editor.
func comment(text string) string {
	var b, line strings.Builder
	for _, w := range strings.Fields(text) {
		if line.Len() > 0 && line.Len()+1+len(w) > 76 {
			b.WriteString("# " + line.String() + "\n")
			line.Reset()
		}
		if line.Len() > 0 {
			line.WriteByte(' ')
		}
		line.WriteString(w)
	}
	if line.Len() > 0 {
		b.WriteString("# " + line.String() + "\n")
	}
	return b.String()
}

// templateNamespace is the namespace the user most likely works in: the
// one given with -n, else the one with the most pods outside kube-system.
func templateNamespace(wd *world, defaultNS string) string {
	if defaultNS != "" {
		return defaultNS
	}
	best, n := "default", -1
	for _, ns := range wd.nsNames {
		if ns == "kube-system" {
			continue
		}
		if len(wd.byNS[ns]) > n {
			best, n = ns, len(wd.byNS[ns])
		}
	}
	return best
}

// templateLabels picks a label of one workload to protect and a label of
// another to admit, from the pods of the namespace.
func templateLabels(wd *world, ns string) (target, client map[string]string) {
	type lv struct{ k, v string }
	var firstOf []lv // one label per workload, in pod order
	lastWorkload := ""
	for _, i := range wd.byNS[ns] {
		p := wd.pods[i]
		keys := make([]string, 0, len(p.Labels))
		for k := range p.Labels {
			if !generatedLabels[k] {
				keys = append(keys, k)
			}
		}
		sort.Slice(keys, func(a, b int) bool {
			// app-ish keys first: they are what tutorials select on.
			ra, rb := labelRank(keys[a]), labelRank(keys[b])
			if ra != rb {
				return ra < rb
			}
			return keys[a] < keys[b]
		})
		if len(keys) > 0 && wd.workload[i] != lastWorkload {
			lastWorkload = wd.workload[i]
			firstOf = append(firstOf, lv{keys[0], p.Labels[keys[0]]})
		}
	}
	target = map[string]string{"app": "web"}
	client = map[string]string{"role": "client"}
	if len(firstOf) > 0 {
		target = map[string]string{firstOf[0].k: firstOf[0].v}
	}
	for _, l := range firstOf[min(1, len(firstOf)):] {
		if l != (lv{keyOf(target), target[keyOf(target)]}) {
			client = map[string]string{l.k: l.v}
			break
		}
	}
	return target, client
}

func labelRank(k string) int {
	switch k {
	case "app", "app.kubernetes.io/name":
		return 0
	case "role", "tier", "component", "app.kubernetes.io/component":
		return 1
	}
	return 2
}

func keyOf(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

func labelName(m map[string]string) string {
	for k, v := range m {
		s := strings.ToLower(v)
		if s == "true" || s == "" {
			s = k
		}
		s = strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
				return r
			}
			return '-'
		}, strings.ToLower(s))
		s = strings.Trim(s, "-")
		if s == "" {
			return "pods"
		}
		return s[:min(len(s), 40)]
	}
	return "pods"
}

// firstPort is the first container port of a pod the labels select.
func firstPort(wd *world, ns string, sel map[string]string) (corev1.ContainerPort, bool) {
	for _, i := range wd.byNS[ns] {
		p := wd.pods[i]
		match := true
		for k, v := range sel {
			if p.Labels[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		for _, c := range p.Spec.Containers {
			if len(c.Ports) > 0 {
				return c.Ports[0], true
			}
		}
	}
	return corev1.ContainerPort{}, false
}
