package printers

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/palisade-net/palisade/internal/validation"
)

type describer struct {
	w   *tabwriter.Writer
	out io.Writer // under w: tables of their own start a new alignment
	now time.Time
}

func (d *describer) line(indent int, key string, value any) {
	fmt.Fprintf(d.w, "%s%s\t%v\n", strings.Repeat("  ", indent), key, value)
}

func (d *describer) labels(key string, m map[string]string, indent int) {
	if len(m) == 0 {
		d.line(indent, key, "<none>")
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i == 0 {
			d.line(indent, key, k+"="+m[k])
		} else {
			d.line(indent, "", k+"="+m[k])
		}
	}
}

func (d *describer) meta(m metav1.ObjectMeta, namespaced bool) {
	d.line(0, "Name:", m.Name)
	if namespaced {
		d.line(0, "Namespace:", m.Namespace)
	}
	d.labels("Labels:", m.Labels, 0)
	d.labels("Annotations:", m.Annotations, 0)
}

func (d *describer) pod(p *corev1.Pod, f Facts) {
	d.line(0, "Name:", p.Name)
	d.line(0, "Namespace:", p.Namespace)
	d.line(0, "Priority:", 0)
	d.line(0, "Service Account:", "default")
	d.line(0, "Node:", f.Node)
	if p.Status.StartTime != nil {
		d.line(0, "Start Time:", p.Status.StartTime.Format(time.RFC1123Z))
	}
	d.labels("Labels:", p.Labels, 0)
	d.labels("Annotations:", p.Annotations, 0)
	d.line(0, "Status:", p.Status.Phase)
	d.line(0, "IP:", p.Status.PodIP)
	d.line(0, "IPs:", "")
	for _, ip := range p.Status.PodIPs {
		d.line(1, "IP:", ip.IP)
	}
	if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
		d.line(0, "Controlled By:", ref.Kind+"/"+ref.Name)
	}
	d.line(0, "Containers:", "")
	for i, c := range p.Spec.Containers {
		d.line(1, c.Name+":", "")
		d.line(2, "Image:", c.Image)
		if len(c.Ports) == 0 {
			d.line(2, "Port:", "<none>")
		}
		for _, pt := range c.Ports {
			proto := validation.ProtocolOrTCP(pt.Protocol)
			name := ""
			if pt.Name != "" {
				name = " (" + pt.Name + ")"
			}
			d.line(2, "Port:", fmt.Sprintf("%d/%s%s", pt.ContainerPort, proto, name))
		}
		if len(c.Command) > 0 {
			d.line(2, "Command:", "")
			for _, a := range c.Command {
				d.line(3, a, "")
			}
		}
		if len(c.Args) > 0 {
			d.line(2, "Args:", "")
			for _, a := range c.Args {
				d.line(3, a, "")
			}
		}
		if i < len(p.Status.ContainerStatuses) {
			cs := p.Status.ContainerStatuses[i]
			switch {
			case cs.State.Running != nil:
				d.line(2, "State:", "Running")
				d.line(3, "Started:", cs.State.Running.StartedAt.Format(time.RFC1123Z))
			case cs.State.Waiting != nil:
				d.line(2, "State:", "Waiting")
				d.line(3, "Reason:", cs.State.Waiting.Reason)
				if cs.State.Waiting.Message != "" {
					d.line(3, "Message:", cs.State.Waiting.Message)
				}
			case cs.State.Terminated != nil:
				d.line(2, "State:", "Terminated")
				d.line(3, "Reason:", cs.State.Terminated.Reason)
				d.line(3, "Exit Code:", cs.State.Terminated.ExitCode)
			}
			d.line(2, "Ready:", titleBool(cs.Ready))
			d.line(2, "Restart Count:", cs.RestartCount)
		}
		if len(c.Env) == 0 {
			d.line(2, "Environment:", "<none>")
		} else {
			d.line(2, "Environment:", "")
			for _, e := range c.Env {
				d.line(3, e.Name+":", e.Value)
			}
		}
	}
	d.line(0, "Conditions:", "")
	d.line(1, "Type", "Status")
	for _, c := range p.Status.Conditions {
		d.line(1, string(c.Type), c.Status)
	}
	d.policy(f)
	d.events(f.Events)
}

// policy shows what isolates the pod and the data plane's counters of its
// new connections.
func (d *describer) policy(f Facts) {
	counts := f.Counts
	d.line(0, "Network Policy:", "")
	for i, name := range []string{"ingress", "egress"} {
		state := "not isolated"
		if pols := f.Isolation[i]; len(pols) > 0 {
			state = "isolated by " + strings.Join(pols, ", ")
		}
		d.line(1, name+":", fmt.Sprintf("%s; packets opening connections: %d allowed, %d denied", state, counts[2*i], counts[2*i+1]))
	}
}

func titleBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func (d *describer) events(evs []*corev1.Event) {
	if len(evs) == 0 {
		d.line(0, "Events:", "<none>")
		return
	}
	d.line(0, "Events:", "")
	_ = d.w.Flush()
	ew := tabwriter.NewWriter(d.out, 0, 8, 2, ' ', 0)
	fmt.Fprintf(ew, "  Type\tReason\tAge\tFrom\tMessage\n  ----\t------\t----\t----\t-------\n")
	for _, e := range evs {
		fmt.Fprintf(ew, "  %s\t%s\t%s\t%s\t%s\n", e.Type, e.Reason, Age(e.LastTimestamp, d.now), "palisade-lab", e.Message)
	}
	_ = ew.Flush()
}

func (d *describer) service(s *corev1.Service, f Facts) {
	d.meta(s.ObjectMeta, true)
	d.line(0, "Selector:", selectorString(s.Spec.Selector))
	d.line(0, "Type:", s.Spec.Type)
	if s.Spec.IPFamilyPolicy != nil {
		d.line(0, "IP Family Policy:", *s.Spec.IPFamilyPolicy)
	}
	var fams []string
	for _, f := range s.Spec.IPFamilies {
		fams = append(fams, string(f))
	}
	d.line(0, "IP Families:", strings.Join(fams, ","))
	d.line(0, "IP:", s.Spec.ClusterIP)
	d.line(0, "IPs:", strings.Join(s.Spec.ClusterIPs, ","))
	for _, p := range s.Spec.Ports {
		name := p.Name
		if name == "" {
			name = "<unset>"
		}
		d.line(0, "Port:", fmt.Sprintf("%s  %d/%s", name, p.Port, p.Protocol))
		d.line(0, "TargetPort:", fmt.Sprintf("%s/%s", p.TargetPort.String(), p.Protocol))
		list := f.Endpoints[p.Name]
		if len(list) == 0 {
			d.line(0, "Endpoints:", "<none>")
		} else {
			d.line(0, "Endpoints:", strings.Join(list, ","))
		}
	}
	d.line(0, "Session Affinity:", "None")
	d.line(0, "Internal Traffic Policy:", "Cluster")
	d.events(f.Events)
}

func (d *describer) deployment(dep *appsv1.Deployment, f Facts) {
	d.meta(dep.ObjectMeta, true)
	d.line(0, "CreationTimestamp:", dep.CreationTimestamp.Format(time.RFC1123Z))
	sel, _ := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	d.line(0, "Selector:", sel.String())
	d.line(0, "Replicas:", fmt.Sprintf("%d desired | %d updated | %d total | %d available | %d unavailable",
		replicas(dep.Spec.Replicas), dep.Status.UpdatedReplicas, dep.Status.Replicas, dep.Status.AvailableReplicas, dep.Status.Replicas-dep.Status.AvailableReplicas))
	d.line(0, "StrategyType:", "RollingUpdate")
	d.line(0, "Pod Template:", "")
	d.labels("  Labels:", dep.Spec.Template.Labels, 0)
	d.line(1, "Containers:", "")
	for _, c := range dep.Spec.Template.Spec.Containers {
		d.line(2, c.Name+":", "")
		d.line(3, "Image:", c.Image)
		for _, pt := range c.Ports {
			d.line(3, "Port:", fmt.Sprintf("%d/%s", pt.ContainerPort, validation.ProtocolOrTCP(pt.Protocol)))
		}
	}
	d.events(f.Events)
}

// netpol follows kubectl's NetworkPolicy describer.
func (d *describer) netpol(np *networkingv1.NetworkPolicy) {
	d.line(0, "Name:", np.Name)
	d.line(0, "Namespace:", np.Namespace)
	d.line(0, "Created on:", np.CreationTimestamp.Time.UTC())
	d.labels("Labels:", np.Labels, 0)
	d.labels("Annotations:", np.Annotations, 0)
	fmt.Fprintln(d.w, "Spec:")
	if len(np.Spec.PodSelector.MatchLabels)+len(np.Spec.PodSelector.MatchExpressions) == 0 {
		fmt.Fprintln(d.w, "  PodSelector:     <none> (Allowing the specific traffic to all pods in this namespace)")
	} else {
		fmt.Fprintf(d.w, "  PodSelector:     %s\n", metav1.FormatLabelSelector(&np.Spec.PodSelector))
	}
	ingress, egress := false, false
	for _, t := range np.Spec.PolicyTypes {
		ingress = ingress || t == networkingv1.PolicyTypeIngress
		egress = egress || t == networkingv1.PolicyTypeEgress
	}
	ingressRules := make([]netpolRule, len(np.Spec.Ingress))
	for i, r := range np.Spec.Ingress {
		ingressRules[i] = netpolRule{r.Ports, r.From}
	}
	d.netpolDirection("ingress", "From", ingress, ingressRules)
	egressRules := make([]netpolRule, len(np.Spec.Egress))
	for i, r := range np.Spec.Egress {
		egressRules[i] = netpolRule{r.Ports, r.To}
	}
	d.netpolDirection("egress", "To", egress, egressRules)
	var types []string
	for _, t := range np.Spec.PolicyTypes {
		types = append(types, string(t))
	}
	fmt.Fprintf(d.w, "  Policy Types: %s\n", strings.Join(types, ", "))
}

func (d *describer) ports(ps []networkingv1.NetworkPolicyPort) {
	if len(ps) == 0 {
		fmt.Fprintln(d.w, "    To Port: <any> (traffic allowed to all ports)")
		return
	}
	for _, p := range ps {
		proto := validation.PolicyPortProtocol(p.Protocol)
		port := "<any>"
		if p.Port != nil {
			port = p.Port.String()
			if p.EndPort != nil {
				port = fmt.Sprintf("%s-%d", port, *p.EndPort)
			}
		}
		fmt.Fprintf(d.w, "    To Port: %s/%s\n", port, proto)
	}
}

func (d *describer) peers(dir string, ps []networkingv1.NetworkPolicyPeer) {
	if len(ps) == 0 {
		what := "source"
		if dir == "To" {
			what = "destination"
		}
		fmt.Fprintf(d.w, "    %s: <any> (traffic not restricted by %s)\n", dir, what)
		return
	}
	fmt.Fprintf(d.w, "    %s:\n", dir)
	for i, p := range ps {
		if i > 0 {
			fmt.Fprintln(d.w, "    ----------")
		}
		switch {
		case p.PodSelector != nil && p.NamespaceSelector != nil:
			fmt.Fprintf(d.w, "      NamespaceSelector: %s\n", metav1.FormatLabelSelector(p.NamespaceSelector))
			fmt.Fprintf(d.w, "      PodSelector: %s\n", metav1.FormatLabelSelector(p.PodSelector))
		case p.PodSelector != nil:
			fmt.Fprintf(d.w, "      PodSelector: %s\n", metav1.FormatLabelSelector(p.PodSelector))
		case p.NamespaceSelector != nil:
			fmt.Fprintf(d.w, "      NamespaceSelector: %s\n", metav1.FormatLabelSelector(p.NamespaceSelector))
		case p.IPBlock != nil:
			fmt.Fprintln(d.w, "      IPBlock:")
			fmt.Fprintf(d.w, "        CIDR: %s\n", p.IPBlock.CIDR)
			fmt.Fprintf(d.w, "        Except: %s\n", strings.Join(p.IPBlock.Except, ", "))
		}
	}
}

// netpolRule is an ingress or an egress rule: its ports and its peers.
type netpolRule struct {
	ports []networkingv1.NetworkPolicyPort
	peers []networkingv1.NetworkPolicyPeer
}

// netpolDirection prints one direction of a NetworkPolicy as kubectl does.
func (d *describer) netpolDirection(dir, peerLabel string, affected bool, rules []netpolRule) {
	if !affected {
		fmt.Fprintf(d.w, "  Not affecting %s traffic\n", dir)
		return
	}
	fmt.Fprintf(d.w, "  Allowing %s traffic:\n", dir)
	if len(rules) == 0 {
		fmt.Fprintf(d.w, "    <none> (Selected pods are isolated for %s connectivity)\n", dir)
	}
	for i, r := range rules {
		if i > 0 {
			fmt.Fprintln(d.w, "    ----------")
		}
		d.ports(r.ports)
		d.peers(peerLabel, r.peers)
	}
}
