package validation

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The tables here describe inputs and the API server's answers only, so that
// they can also be replayed against kube-apiserver's own code.

// wantErr is one expected error: its type, its field path and the whole
// err.Error() string, byte for byte.
type wantErr struct {
	typ   field.ErrorType
	field string
	err   string
}

func invalid(fld, err string) wantErr  { return wantErr{field.ErrorTypeInvalid, fld, err} }
func required(fld, err string) wantErr { return wantErr{field.ErrorTypeRequired, fld, err} }
func forbidden(fld, err string) wantErr {
	return wantErr{field.ErrorTypeForbidden, fld, err}
}
func notSupported(fld, err string) wantErr { return wantErr{field.ErrorTypeNotSupported, fld, err} }
func duplicate(fld, err string) wantErr    { return wantErr{field.ErrorTypeDuplicate, fld, err} }

type policyCase struct {
	name string
	np   *networkingv1.NetworkPolicy
	want []wantErr
}

type policyUpdateCase struct {
	name    string
	old, np *networkingv1.NetworkPolicy
	want    []wantErr
}

// Long upstream explanations, spelled out once.
const (
	dns1123SubdomainRule = `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`
	dns1123LabelRule     = `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`
	labelNameRule        = `name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`
	labelValueRule       = `a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`
	cidrRule             = `must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)`
	portRangeRule        = `must be between 1 and 65535, inclusive`
)

// The tweaks below follow upstream's validation_test.go, on v1 types.

type netpolTweak func(*networkingv1.NetworkPolicy)

func makeValidNetworkPolicy() *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "foo", Namespace: "bar"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
		},
	}
}

func makeNetworkPolicyCustom(tweaks ...netpolTweak) *networkingv1.NetworkPolicy {
	np := makeValidNetworkPolicy()
	for _, fn := range tweaks {
		fn(np)
	}
	return np
}

// makePort leaves port unset for 0, "" and "0", and endPort unset for 0, as
// upstream's helper does.
func makePort(proto *corev1.Protocol, port intstr.IntOrString, endPort int32) networkingv1.NetworkPolicyPort {
	r := networkingv1.NetworkPolicyPort{Protocol: proto}
	if port != intstr.FromInt32(0) && port != intstr.FromString("") && port != intstr.FromString("0") {
		r.Port = &port
	}
	if endPort != 0 {
		r.EndPort = &endPort
	}
	return r
}

func protocol(p corev1.Protocol) *corev1.Protocol { return &p }

var (
	protocolTCP  = protocol(corev1.ProtocolTCP)
	protocolUDP  = protocol(corev1.ProtocolUDP)
	protocolSCTP = protocol(corev1.ProtocolSCTP)
	protocolICMP = protocol("ICMP")
)

func setIngressEmptyFirstElement(np *networkingv1.NetworkPolicy) {
	np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{}}
}

func setIngressFromEmptyFirstElement(np *networkingv1.NetworkPolicy) {
	if np.Spec.Ingress == nil {
		setIngressEmptyFirstElement(np)
	}
	np.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{}}
}

func setIngressFromIfEmpty(np *networkingv1.NetworkPolicy) {
	if np.Spec.Ingress == nil {
		setIngressEmptyFirstElement(np)
	}
	if np.Spec.Ingress[0].From == nil {
		setIngressFromEmptyFirstElement(np)
	}
}

func setIngressEmptyPorts(np *networkingv1.NetworkPolicy) {
	np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{}}}}
}

func setIngressPorts(ports ...networkingv1.NetworkPolicyPort) netpolTweak {
	return func(np *networkingv1.NetworkPolicy) {
		if np.Spec.Ingress == nil {
			setIngressEmptyFirstElement(np)
		}
		np.Spec.Ingress[0].Ports = append([]networkingv1.NetworkPolicyPort(nil), ports...)
	}
}

func setIngressFromPodSelector(k, v string) netpolTweak {
	return func(np *networkingv1.NetworkPolicy) {
		setIngressFromIfEmpty(np)
		np.Spec.Ingress[0].From[0].PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{k: v}}
	}
}

func setIngressFromNamespaceSelector(np *networkingv1.NetworkPolicy) {
	setIngressFromIfEmpty(np)
	np.Spec.Ingress[0].From[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"c": "d"}}
}

func setIngressFromIPBlockIPV4(np *networkingv1.NetworkPolicy) {
	setIngressFromIfEmpty(np)
	np.Spec.Ingress[0].From[0].IPBlock = &networkingv1.IPBlock{
		CIDR:   "192.168.0.0/16",
		Except: []string{"192.168.3.0/24", "192.168.4.0/24"},
	}
}

func setIngressFromIPBlockIPV6(np *networkingv1.NetworkPolicy) {
	setIngressFromIfEmpty(np)
	np.Spec.Ingress[0].From[0].IPBlock = &networkingv1.IPBlock{
		CIDR:   "fd00:192:168::/48",
		Except: []string{"fd00:192:168:3::/64", "fd00:192:168:4::/64"},
	}
}

func setIngressFromIPBlock(cidr string, except ...string) netpolTweak {
	return func(np *networkingv1.NetworkPolicy) {
		setIngressFromEmptyFirstElement(np)
		np.Spec.Ingress[0].From[0].IPBlock = &networkingv1.IPBlock{CIDR: cidr, Except: except}
	}
}

func setEgressEmptyFirstElement(np *networkingv1.NetworkPolicy) {
	np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{}}
}

func setEgressToEmptyFirstElement(np *networkingv1.NetworkPolicy) {
	if np.Spec.Egress == nil {
		setEgressEmptyFirstElement(np)
	}
	np.Spec.Egress[0].To = []networkingv1.NetworkPolicyPeer{{}}
}

func setEgressToIfEmpty(np *networkingv1.NetworkPolicy) {
	if np.Spec.Egress == nil {
		setEgressEmptyFirstElement(np)
	}
	if np.Spec.Egress[0].To == nil {
		setEgressToEmptyFirstElement(np)
	}
}

func setEgressToNamespaceSelector(np *networkingv1.NetworkPolicy) {
	setEgressToIfEmpty(np)
	np.Spec.Egress[0].To[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"c": "d"}}
}

func setEgressToPodSelector(np *networkingv1.NetworkPolicy) {
	setEgressToIfEmpty(np)
	np.Spec.Egress[0].To[0].PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"c": "d"}}
}

func setEgressToIPBlockIPV4(np *networkingv1.NetworkPolicy) {
	setEgressToIfEmpty(np)
	np.Spec.Egress[0].To[0].IPBlock = &networkingv1.IPBlock{
		CIDR:   "192.168.0.0/16",
		Except: []string{"192.168.3.0/24", "192.168.4.0/24"},
	}
}

func setEgressToIPBlockIPV6(np *networkingv1.NetworkPolicy) {
	setEgressToIfEmpty(np)
	np.Spec.Egress[0].To[0].IPBlock = &networkingv1.IPBlock{
		CIDR:   "fd00:192:168::/48",
		Except: []string{"fd00:192:168:3::/64", "fd00:192:168:4::/64"},
	}
}

func setEgressPorts(ports ...networkingv1.NetworkPolicyPort) netpolTweak {
	return func(np *networkingv1.NetworkPolicy) {
		if np.Spec.Egress == nil {
			setEgressEmptyFirstElement(np)
		}
		np.Spec.Egress[0].Ports = append([]networkingv1.NetworkPolicyPort(nil), ports...)
	}
}

func setPolicyTypes(types ...networkingv1.PolicyType) netpolTweak {
	return func(np *networkingv1.NetworkPolicy) { np.Spec.PolicyTypes = types }
}

func setPodSelector(sel metav1.LabelSelector) netpolTweak {
	return func(np *networkingv1.NetworkPolicy) { np.Spec.PodSelector = sel }
}

func setMeta(fn func(*metav1.ObjectMeta)) netpolTweak {
	return func(np *networkingv1.NetworkPolicy) { fn(&np.ObjectMeta) }
}

var (
	setPolicyTypesEgress        = setPolicyTypes(networkingv1.PolicyTypeEgress)
	setPolicyTypesIngressEgress = setPolicyTypes(networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress)
)

// upstreamPolicySuccessCases are TestValidateNetworkPolicy's successCases.
func upstreamPolicySuccessCases() []policyCase {
	return []policyCase{
		{name: "empty ingress rule", np: makeNetworkPolicyCustom(setIngressEmptyFirstElement)},
		{name: "empty peer and port", np: makeNetworkPolicyCustom(setIngressFromEmptyFirstElement, setIngressEmptyPorts)},
		{name: "ingress ports", np: makeNetworkPolicyCustom(setIngressPorts(
			makePort(nil, intstr.FromInt32(80), 0),
			makePort(protocolTCP, intstr.FromInt32(0), 0),
			makePort(protocolTCP, intstr.FromInt32(443), 0),
			makePort(protocolUDP, intstr.FromString("dns"), 0),
			makePort(protocolSCTP, intstr.FromInt32(7777), 0),
		))},
		{name: "ingress podSelector", np: makeNetworkPolicyCustom(setIngressFromPodSelector("c", "d"))},
		{name: "ingress namespaceSelector", np: makeNetworkPolicyCustom(setIngressFromNamespaceSelector)},
		{name: "ingress pod and namespace selectors", np: makeNetworkPolicyCustom(setIngressFromPodSelector("e", "f"), setIngressFromNamespaceSelector)},
		{name: "egress namespaceSelector, ingress IPv4 ipBlock", np: makeNetworkPolicyCustom(setEgressToNamespaceSelector, setIngressFromIPBlockIPV4)},
		{name: "ingress IPv4 ipBlock", np: makeNetworkPolicyCustom(setIngressFromIPBlockIPV4)},
		{name: "egress IPv4 ipBlock, Egress", np: makeNetworkPolicyCustom(setEgressToIPBlockIPV4, setPolicyTypesEgress)},
		{name: "egress IPv4 ipBlock, Ingress and Egress", np: makeNetworkPolicyCustom(setEgressToIPBlockIPV4, setPolicyTypesIngressEgress)},
		{name: "egress ports", np: makeNetworkPolicyCustom(setEgressPorts(
			makePort(nil, intstr.FromInt32(80), 0),
			makePort(protocolTCP, intstr.FromInt32(0), 0),
			makePort(protocolTCP, intstr.FromInt32(443), 0),
			makePort(protocolUDP, intstr.FromString("dns"), 0),
			makePort(protocolSCTP, intstr.FromInt32(7777), 0),
		))},
		{name: "egress namespaceSelector, ingress IPv6 ipBlock", np: makeNetworkPolicyCustom(setEgressToNamespaceSelector, setIngressFromIPBlockIPV6)},
		{name: "ingress IPv6 ipBlock", np: makeNetworkPolicyCustom(setIngressFromIPBlockIPV6)},
		{name: "egress IPv6 ipBlock, Egress", np: makeNetworkPolicyCustom(setEgressToIPBlockIPV6, setPolicyTypesEgress)},
		{name: "egress IPv6 ipBlock, Ingress and Egress", np: makeNetworkPolicyCustom(setEgressToIPBlockIPV6, setPolicyTypesIngressEgress)},
		{name: "egress port range", np: makeNetworkPolicyCustom(setEgressPorts(makePort(nil, intstr.FromInt32(32000), 32768), makePort(protocolUDP, intstr.FromString("dns"), 0)))},
		{name: "port ranges both ways", np: makeNetworkPolicyCustom(
			setEgressToNamespaceSelector,
			setEgressPorts(
				makePort(nil, intstr.FromInt32(30000), 32768),
				makePort(nil, intstr.FromInt32(32000), 32768),
			),
			setIngressFromPodSelector("e", "f"),
			setIngressPorts(makePort(protocolTCP, intstr.FromInt32(32768), 32768)))},
	}
}

// upstreamPolicyErrorCases are TestValidateNetworkPolicy's errorCases and
// legacyValidationCases (an error now that StrictIPCIDRValidation is on by
// default), with the exact errors upstream only counted.
func upstreamPolicyErrorCases() []policyCase {
	invalidSelector := map[string]string{"NoUppercaseOrSpecialCharsLike=Equals": "b"}
	invalidSelectorErr := func(fld string) wantErr {
		return invalid(fld, fld+`: Invalid value: "NoUppercaseOrSpecialCharsLike=Equals": `+labelNameRule)
	}
	return []policyCase{
		{
			name: "legacy cidr format without strict validation",
			np: makeNetworkPolicyCustom(setIngressFromIPBlockIPV4, func(np *networkingv1.NetworkPolicy) {
				np.Spec.Ingress[0].From[0].IPBlock.CIDR = "001.002.003.000/0"
			}),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.cidr", `spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "001.002.003.000/0": must not have leading 0s in IP or prefix length`)},
		},
		{
			name: "namespaceSelector and ipBlock",
			np:   makeNetworkPolicyCustom(setIngressFromNamespaceSelector, setIngressFromIPBlockIPV4),
			want: []wantErr{forbidden("spec.ingress[0].from[0]", "spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer")},
		},
		{
			name: "podSelector and ipBlock",
			np:   makeNetworkPolicyCustom(setEgressToPodSelector, setEgressToIPBlockIPV4),
			want: []wantErr{forbidden("spec.egress[0].to[0]", "spec.egress[0].to[0]: Forbidden: may not specify both ipBlock and another peer")},
		},
		{
			name: "missing from and to type",
			np:   makeNetworkPolicyCustom(setIngressFromEmptyFirstElement, setEgressToEmptyFirstElement),
			want: []wantErr{
				required("spec.ingress[0].from[0]", "spec.ingress[0].from[0]: Required value: must specify a peer"),
				required("spec.egress[0].to[0]", "spec.egress[0].to[0]: Required value: must specify a peer"),
			},
		},
		{
			name: "invalid spec.podSelector",
			np: makeNetworkPolicyCustom(setIngressFromNamespaceSelector, func(np *networkingv1.NetworkPolicy) {
				np.Spec = networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: invalidSelector}}
			}),
			want: []wantErr{invalidSelectorErr("spec.podSelector.matchLabels")},
		},
		{
			name: "invalid ingress.ports.protocol",
			np:   makeNetworkPolicyCustom(setIngressPorts(makePort(protocolICMP, intstr.FromInt32(80), 0))),
			want: []wantErr{notSupported("spec.ingress[0].ports[0].protocol", `spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"`)},
		},
		{
			name: "invalid ingress.ports.port (int)",
			np:   makeNetworkPolicyCustom(setIngressPorts(makePort(protocolTCP, intstr.FromInt32(123456789), 0))),
			want: []wantErr{invalid("spec.ingress[0].ports[0].port", "spec.ingress[0].ports[0].port: Invalid value: 123456789: "+portRangeRule)},
		},
		{
			name: "invalid ingress.ports.port (str)",
			np:   makeNetworkPolicyCustom(setIngressPorts(makePort(protocolTCP, intstr.FromString("!@#$"), 0))),
			want: []wantErr{
				invalid("spec.ingress[0].ports[0].port", `spec.ingress[0].ports[0].port: Invalid value: "!@#$": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`),
				invalid("spec.ingress[0].ports[0].port", `spec.ingress[0].ports[0].port: Invalid value: "!@#$": must contain at least one letter (a-z)`),
			},
		},
		{
			name: "invalid ingress.from.podSelector",
			np: makeNetworkPolicyCustom(setIngressFromEmptyFirstElement, func(np *networkingv1.NetworkPolicy) {
				np.Spec.Ingress[0].From[0].PodSelector = &metav1.LabelSelector{MatchLabels: invalidSelector}
			}),
			want: []wantErr{invalidSelectorErr("spec.ingress[0].from[0].podSelector.matchLabels")},
		},
		{
			name: "invalid egress.to.podSelector",
			np: makeNetworkPolicyCustom(setEgressToEmptyFirstElement, func(np *networkingv1.NetworkPolicy) {
				np.Spec.Egress[0].To[0].PodSelector = &metav1.LabelSelector{MatchLabels: invalidSelector}
			}),
			want: []wantErr{invalidSelectorErr("spec.egress[0].to[0].podSelector.matchLabels")},
		},
		{
			name: "invalid egress.ports.protocol",
			np:   makeNetworkPolicyCustom(setEgressPorts(makePort(protocolICMP, intstr.FromInt32(80), 0))),
			want: []wantErr{notSupported("spec.egress[0].ports[0].protocol", `spec.egress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"`)},
		},
		{
			name: "invalid egress.ports.port (int)",
			np:   makeNetworkPolicyCustom(setEgressPorts(makePort(protocolTCP, intstr.FromInt32(123456789), 0))),
			want: []wantErr{invalid("spec.egress[0].ports[0].port", "spec.egress[0].ports[0].port: Invalid value: 123456789: "+portRangeRule)},
		},
		{
			name: "invalid egress.ports.port (str)",
			np:   makeNetworkPolicyCustom(setEgressPorts(makePort(protocolTCP, intstr.FromString("!@#$"), 0))),
			want: []wantErr{
				invalid("spec.egress[0].ports[0].port", `spec.egress[0].ports[0].port: Invalid value: "!@#$": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`),
				invalid("spec.egress[0].ports[0].port", `spec.egress[0].ports[0].port: Invalid value: "!@#$": must contain at least one letter (a-z)`),
			},
		},
		{
			name: "invalid ingress.from.namespaceSelector",
			np: makeNetworkPolicyCustom(setIngressFromEmptyFirstElement, func(np *networkingv1.NetworkPolicy) {
				np.Spec.Ingress[0].From[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: invalidSelector}
			}),
			want: []wantErr{invalidSelectorErr("spec.ingress[0].from[0].namespaceSelector.matchLabels")},
		},
		{
			name: "missing cidr field",
			np: makeNetworkPolicyCustom(setIngressFromIPBlockIPV4, func(np *networkingv1.NetworkPolicy) {
				np.Spec.Ingress[0].From[0].IPBlock.CIDR = ""
			}),
			want: []wantErr{required("spec.ingress[0].from[0].ipBlock.cidr", "spec.ingress[0].from[0].ipBlock.cidr: Required value")},
		},
		{
			name: "invalid cidr format",
			np: makeNetworkPolicyCustom(setIngressFromIPBlockIPV4, func(np *networkingv1.NetworkPolicy) {
				np.Spec.Ingress[0].From[0].IPBlock.CIDR = "192.168.5.6"
			}),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.cidr", `spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "192.168.5.6": `+cidrRule)},
		},
		{
			name: "invalid ipv6 cidr format",
			np: makeNetworkPolicyCustom(setIngressFromIPBlockIPV6, func(np *networkingv1.NetworkPolicy) {
				np.Spec.Ingress[0].From[0].IPBlock.CIDR = "fd00:192:168::"
			}),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.cidr", `spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "fd00:192:168::": `+cidrRule)},
		},
		{
			name: "legacy cidr format with strict validation",
			np: makeNetworkPolicyCustom(setIngressFromIPBlockIPV4, func(np *networkingv1.NetworkPolicy) {
				np.Spec.Ingress[0].From[0].IPBlock.CIDR = "001.002.003.000/0"
			}),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.cidr", `spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "001.002.003.000/0": must not have leading 0s in IP or prefix length`)},
		},
		{
			name: "except field is an empty string",
			np: makeNetworkPolicyCustom(setIngressFromIPBlockIPV4, func(np *networkingv1.NetworkPolicy) {
				np.Spec.Ingress[0].From[0].IPBlock.Except = []string{""}
			}),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.except[0]", `spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "": `+cidrRule)},
		},
		{
			name: "except field is an space string",
			np: makeNetworkPolicyCustom(setIngressFromIPBlockIPV4, func(np *networkingv1.NetworkPolicy) {
				np.Spec.Ingress[0].From[0].IPBlock.Except = []string{" "}
			}),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.except[0]", `spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: " ": `+cidrRule)},
		},
		{
			name: "except field is an invalid ip",
			np: makeNetworkPolicyCustom(setIngressFromIPBlockIPV4, func(np *networkingv1.NetworkPolicy) {
				np.Spec.Ingress[0].From[0].IPBlock.Except = []string{"300.300.300.300"}
			}),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.except[0]", `spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "300.300.300.300": `+cidrRule)},
		},
		{
			name: "except IP is outside of CIDR range",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("192.168.8.0/24", "192.168.9.1/32")),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.except[0]", "spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: \"192.168.9.1/32\": must be a strict subset of `cidr`")},
		},
		{
			name: "except IP is not strictly within CIDR range",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("192.168.0.0/24", "192.168.0.0/24")),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.except[0]", "spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: \"192.168.0.0/24\": must be a strict subset of `cidr`")},
		},
		{
			name: "except IPv6 is outside of CIDR range",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("fd00:192:168:1::/64", "fd00:192:168:2::/64")),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.except[0]", "spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: \"fd00:192:168:2::/64\": must be a strict subset of `cidr`")},
		},
		{
			name: "invalid policyTypes",
			np:   makeNetworkPolicyCustom(setEgressToIPBlockIPV4, setPolicyTypes("foo", "bar")),
			want: []wantErr{
				notSupported("spec.policyTypes[0]", `spec.policyTypes[0]: Unsupported value: "foo": supported values: "Ingress", "Egress"`),
				notSupported("spec.policyTypes[1]", `spec.policyTypes[1]: Unsupported value: "bar": supported values: "Ingress", "Egress"`),
			},
		},
		{
			name: "too many policyTypes",
			np:   makeNetworkPolicyCustom(setEgressToIPBlockIPV4, setPolicyTypes("foo", "bar", "baz")),
			want: []wantErr{invalid("spec.policyTypes", `spec.policyTypes: Invalid value: ["foo","bar","baz"]: may not specify more than two policyTypes`)},
		},
		{
			name: "multiple ports defined, one port range is invalid",
			np: makeNetworkPolicyCustom(
				setEgressToNamespaceSelector,
				setEgressPorts(
					makePort(protocolUDP, intstr.FromInt32(35000), 32768),
					makePort(nil, intstr.FromInt32(32000), 32768),
				),
			),
			want: []wantErr{invalid("spec.egress[0].ports[0].endPort", "spec.egress[0].ports[0].endPort: Invalid value: 32768: must be greater than or equal to `port`")},
		},
		{
			name: "endPort defined with named/string port",
			np: makeNetworkPolicyCustom(
				setEgressToNamespaceSelector,
				setEgressPorts(
					makePort(protocolUDP, intstr.FromString("dns"), 32768),
					makePort(nil, intstr.FromInt32(32000), 32768),
				),
			),
			want: []wantErr{invalid("spec.egress[0].ports[0].endPort", "spec.egress[0].ports[0].endPort: Invalid value: 32768: may not be specified when `port` is non-numeric")},
		},
		{
			name: "endPort defined without port defined",
			np:   makeNetworkPolicyCustom(setEgressToNamespaceSelector, setEgressPorts(makePort(protocolTCP, intstr.FromInt32(0), 32768))),
			want: []wantErr{invalid("spec.egress[0].ports[0].endPort", "spec.egress[0].ports[0].endPort: Invalid value: 32768: may not be specified when `port` is not specified")},
		},
		{
			name: "port is greater than endPort",
			np:   makeNetworkPolicyCustom(setEgressToNamespaceSelector, setEgressPorts(makePort(protocolSCTP, intstr.FromInt32(35000), 32768))),
			want: []wantErr{invalid("spec.egress[0].ports[0].endPort", "spec.egress[0].ports[0].endPort: Invalid value: 32768: must be greater than or equal to `port`")},
		},
		{
			name: "multiple invalid port ranges defined",
			np: makeNetworkPolicyCustom(
				setEgressToNamespaceSelector,
				setEgressPorts(
					makePort(protocolUDP, intstr.FromInt32(35000), 32768),
					makePort(protocolTCP, intstr.FromInt32(0), 32768),
					makePort(protocolTCP, intstr.FromString("https"), 32768),
				),
			),
			want: []wantErr{
				invalid("spec.egress[0].ports[0].endPort", "spec.egress[0].ports[0].endPort: Invalid value: 32768: must be greater than or equal to `port`"),
				invalid("spec.egress[0].ports[1].endPort", "spec.egress[0].ports[1].endPort: Invalid value: 32768: may not be specified when `port` is not specified"),
				invalid("spec.egress[0].ports[2].endPort", "spec.egress[0].ports[2].endPort: Invalid value: 32768: may not be specified when `port` is non-numeric"),
			},
		},
		{
			name: "invalid endport range defined",
			np:   makeNetworkPolicyCustom(setEgressToNamespaceSelector, setEgressPorts(makePort(protocolTCP, intstr.FromInt32(30000), 65537))),
			want: []wantErr{invalid("spec.egress[0].ports[0].endPort", "spec.egress[0].ports[0].endPort: Invalid value: 65537: "+portRangeRule)},
		},
	}
}

// morePolicyCases cover what upstream's table does not spell out: the
// request path (metadata, declarative validation), strict CIDR parsing, and
// the edges of ports, policyTypes and selectors.
func morePolicyCases() []policyCase {
	intPort := func(p int32) *intstr.IntOrString { v := intstr.FromInt32(p); return &v }
	namedPort := func(p string) *intstr.IntOrString { v := intstr.FromString(p); return &v }
	endPort := func(p int32) *int32 { return &p }
	ports := func(ps ...networkingv1.NetworkPolicyPort) netpolTweak { return setIngressPorts(ps...) }
	return []policyCase{
		// Metadata, as ValidateObjectMeta and the registry check it.
		{
			name: "missing namespace",
			np:   makeNetworkPolicyCustom(setMeta(func(m *metav1.ObjectMeta) { m.Namespace = "" })),
			want: []wantErr{required("metadata.namespace", "metadata.namespace: Required value")},
		},
		{
			name: "missing name",
			np:   makeNetworkPolicyCustom(setMeta(func(m *metav1.ObjectMeta) { m.Name = "" })),
			want: []wantErr{required("metadata.name", "metadata.name: Required value: name or generateName is required")},
		},
		{
			name: "name not a DNS subdomain",
			np:   makeNetworkPolicyCustom(setMeta(func(m *metav1.ObjectMeta) { m.Name = "Foo_bar" })),
			want: []wantErr{invalid("metadata.name", `metadata.name: Invalid value: "Foo_bar": `+dns1123SubdomainRule)},
		},
		{
			name: "name with dots is a subdomain",
			np:   makeNetworkPolicyCustom(setMeta(func(m *metav1.ObjectMeta) { m.Name = "allow.web-8080" })),
		},
		{
			name: "name too long",
			np:   makeNetworkPolicyCustom(setMeta(func(m *metav1.ObjectMeta) { m.Name = strings.Repeat("n", 254) })),
			want: []wantErr{invalid("metadata.name", `metadata.name: Invalid value: "`+strings.Repeat("n", 254)+`": must be no more than 253 characters`)},
		},
		{
			name: "namespace not a DNS label",
			np:   makeNetworkPolicyCustom(setMeta(func(m *metav1.ObjectMeta) { m.Namespace = "a.b" })),
			want: []wantErr{invalid("metadata.namespace", `metadata.namespace: Invalid value: "a.b": must not contain dots`)},
		},
		{
			name: "invalid labels, reported in key order",
			np: makeNetworkPolicyCustom(setMeta(func(m *metav1.ObjectMeta) {
				m.Labels = map[string]string{"z z": "ok", "ok": "a b", "a a": "-"}
			})),
			want: []wantErr{
				invalid("metadata.labels", `metadata.labels: Invalid value: "a a": `+labelNameRule),
				invalid("metadata.labels", `metadata.labels: Invalid value: "-": `+labelValueRule),
				invalid("metadata.labels", `metadata.labels: Invalid value: "a b": `+labelValueRule),
				invalid("metadata.labels", `metadata.labels: Invalid value: "z z": `+labelNameRule),
			},
		},
		{
			name: "invalid annotation key",
			np: makeNetworkPolicyCustom(setMeta(func(m *metav1.ObjectMeta) {
				m.Annotations = map[string]string{"Example.com/Why": "fine", "no way": "x"}
			})),
			want: []wantErr{invalid("metadata.annotations", `metadata.annotations: Invalid value: "no way": `+labelNameRule)},
		},
		{
			name: "unqualified finalizer",
			np: makeNetworkPolicyCustom(setMeta(func(m *metav1.ObjectMeta) {
				m.Finalizers = []string{"kubernetes", "example.com/cleanup", "cleanup", "orphan"}
			})),
			want: []wantErr{invalid("metadata.finalizers[2]", `metadata.finalizers[2]: Invalid value: "cleanup": name is neither a standard finalizer name nor is it fully qualified`)},
		},
		{
			name: "a client's generation does not count on create",
			np:   makeNetworkPolicyCustom(setMeta(func(m *metav1.ObjectMeta) { m.Generation = -3 })),
		},
		{
			name: "metadata and spec errors together",
			np: makeNetworkPolicyCustom(
				setMeta(func(m *metav1.ObjectMeta) { m.Name = "Foo" }),
				setIngressPorts(makePort(protocolTCP, intstr.FromInt32(70000), 0)),
			),
			want: []wantErr{
				invalid("metadata.name", `metadata.name: Invalid value: "Foo": `+dns1123SubdomainRule),
				invalid("spec.ingress[0].ports[0].port", "spec.ingress[0].ports[0].port: Invalid value: 70000: "+portRangeRule),
			},
		},

		// Declarative validation: the enforced beta rule reports last.
		{
			name: "missing cidr is reported after hand-written errors",
			np: makeNetworkPolicyCustom(
				setIngressFromIPBlock(""),
				setIngressFromNamespaceSelector,
				setEgressPorts(makePort(protocolICMP, intstr.FromInt32(53), 0)),
			),
			want: []wantErr{
				forbidden("spec.ingress[0].from[0]", "spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer"),
				notSupported("spec.egress[0].ports[0].protocol", `spec.egress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"`),
				required("spec.ingress[0].from[0].ipBlock.cidr", "spec.ingress[0].from[0].ipBlock.cidr: Required value"),
			},
		},

		// Strict CIDR parsing (StrictIPCIDRValidation).
		{
			name: "cidr with host bits",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("10.0.0.1/8")),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.cidr", `spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.1/8": must not have bits set beyond the prefix length`)},
		},
		{
			name: "IPv6 cidr with host bits",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("fd00::1/64")),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.cidr", `spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "fd00::1/64": must not have bits set beyond the prefix length`)},
		},
		{
			name: "cidr with leading zero in the prefix length",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("10.0.0.0/08")),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.cidr", `spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0/08": must not have leading 0s in IP or prefix length`)},
		},
		{
			name: "cidr with leading zero in the address",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("010.0.0.0/8")),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.cidr", `spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "010.0.0.0/8": must not have leading 0s in IP or prefix length`)},
		},
		{
			name: "IPv4-mapped IPv6 cidr",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("::ffff:10.0.0.0/104")),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.cidr", `spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "::ffff:10.0.0.0/104": must not have an IPv4-mapped IPv6 address`)},
		},
		{
			name: "prefix length out of range",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("10.0.0.0/33")),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.cidr", `spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0/33": `+cidrRule)},
		},
		{
			name: "cidr with trailing space",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("10.0.0.0/8 ")),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.cidr", `spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0/8 ": `+cidrRule)},
		},
		{
			name: "non-canonical IPv6 cidr is accepted",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("FD00:0::/48", "fd00:0:0:1::/64")),
		},
		{
			name: "except with host bits, leading zeros and mapped IPv6",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("10.0.0.0/8", "10.1.2.3/16", "10.01.0.0/16", "::ffff:10.1.0.0/112")),
			want: []wantErr{
				invalid("spec.ingress[0].from[0].ipBlock.except[0]", `spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "10.1.2.3/16": must not have bits set beyond the prefix length`),
				invalid("spec.ingress[0].from[0].ipBlock.except[1]", `spec.ingress[0].from[0].ipBlock.except[1]: Invalid value: "10.01.0.0/16": must not have leading 0s in IP or prefix length`),
				invalid("spec.ingress[0].from[0].ipBlock.except[2]", `spec.ingress[0].from[0].ipBlock.except[2]: Invalid value: "::ffff:10.1.0.0/112": must not have an IPv4-mapped IPv6 address`),
			},
		},
		{
			name: "except of the other IP family",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("10.0.0.0/8", "fd00::/64")),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.except[0]", "spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: \"fd00::/64\": must be a strict subset of `cidr`")},
		},
		{
			name: "except wider than cidr",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("10.1.0.0/16", "10.0.0.0/8")),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.except[0]", "spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: \"10.0.0.0/8\": must be a strict subset of `cidr`")},
		},
		{
			name: "invalid cidr skips the except checks",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("10.0.0.0", "bogus")),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.cidr", `spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0": `+cidrRule)},
		},
		{
			name: "host-bits cidr still bounds its excepts",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("10.0.0.1/8", "10.1.0.0/16", "11.0.0.0/16")),
			want: []wantErr{
				invalid("spec.ingress[0].from[0].ipBlock.cidr", `spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.1/8": must not have bits set beyond the prefix length`),
				invalid("spec.ingress[0].from[0].ipBlock.except[1]", "spec.ingress[0].from[0].ipBlock.except[1]: Invalid value: \"11.0.0.0/16\": must be a strict subset of `cidr`"),
			},
		},

		// Ports.
		{
			name: "endPort equal to port",
			np:   makeNetworkPolicyCustom(ports(networkingv1.NetworkPolicyPort{Port: intPort(80), EndPort: endPort(80)})),
		},
		{
			name: "port 0 is out of range, not absent",
			np:   makeNetworkPolicyCustom(ports(networkingv1.NetworkPolicyPort{Port: intPort(0), EndPort: endPort(10)})),
			want: []wantErr{invalid("spec.ingress[0].ports[0].port", "spec.ingress[0].ports[0].port: Invalid value: 0: "+portRangeRule)},
		},
		{
			name: "endPort below port and out of range",
			np:   makeNetworkPolicyCustom(ports(networkingv1.NetworkPolicyPort{Port: intPort(80), EndPort: endPort(-1)})),
			want: []wantErr{
				invalid("spec.ingress[0].ports[0].endPort", "spec.ingress[0].ports[0].endPort: Invalid value: -1: must be greater than or equal to `port`"),
				invalid("spec.ingress[0].ports[0].endPort", "spec.ingress[0].ports[0].endPort: Invalid value: -1: "+portRangeRule),
			},
		},
		{
			name: "port and endPort both out of range",
			np:   makeNetworkPolicyCustom(ports(networkingv1.NetworkPolicyPort{Port: intPort(65536), EndPort: endPort(65537)})),
			want: []wantErr{
				invalid("spec.ingress[0].ports[0].port", "spec.ingress[0].ports[0].port: Invalid value: 65536: "+portRangeRule),
				invalid("spec.ingress[0].ports[0].endPort", "spec.ingress[0].ports[0].endPort: Invalid value: 65537: "+portRangeRule),
			},
		},
		{
			name: "lower-case protocol",
			np:   makeNetworkPolicyCustom(ports(networkingv1.NetworkPolicyPort{Protocol: protocol("tcp"), Port: intPort(80)})),
			want: []wantErr{notSupported("spec.ingress[0].ports[0].protocol", `spec.ingress[0].ports[0].protocol: Unsupported value: "tcp": supported values: "TCP", "UDP", "SCTP"`)},
		},
		{
			name: "valid named ports",
			np: makeNetworkPolicyCustom(ports(
				networkingv1.NetworkPolicyPort{Port: namedPort("http")},
				networkingv1.NetworkPolicyPort{Port: namedPort("web-8080")},
				networkingv1.NetworkPolicyPort{Port: namedPort("a1b2c3d4e5f6g7h")},
			)),
		},
		{
			name: "invalid named ports",
			np: makeNetworkPolicyCustom(ports(
				networkingv1.NetworkPolicyPort{Port: namedPort("toolongportname1")},
				networkingv1.NetworkPolicyPort{Port: namedPort("a--b")},
				networkingv1.NetworkPolicyPort{Port: namedPort("1234")},
				networkingv1.NetworkPolicyPort{Port: namedPort("-http")},
				networkingv1.NetworkPolicyPort{Port: namedPort("HTTP")},
				networkingv1.NetworkPolicyPort{Port: namedPort("")},
			)),
			want: []wantErr{
				invalid("spec.ingress[0].ports[0].port", `spec.ingress[0].ports[0].port: Invalid value: "toolongportname1": must be no more than 15 characters`),
				invalid("spec.ingress[0].ports[1].port", `spec.ingress[0].ports[1].port: Invalid value: "a--b": must not contain consecutive hyphens`),
				invalid("spec.ingress[0].ports[2].port", `spec.ingress[0].ports[2].port: Invalid value: "1234": must contain at least one letter (a-z)`),
				invalid("spec.ingress[0].ports[3].port", `spec.ingress[0].ports[3].port: Invalid value: "-http": must not begin or end with a hyphen`),
				invalid("spec.ingress[0].ports[4].port", `spec.ingress[0].ports[4].port: Invalid value: "HTTP": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`),
				invalid("spec.ingress[0].ports[4].port", `spec.ingress[0].ports[4].port: Invalid value: "HTTP": must contain at least one letter (a-z)`),
				invalid("spec.ingress[0].ports[5].port", `spec.ingress[0].ports[5].port: Invalid value: "": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`),
				invalid("spec.ingress[0].ports[5].port", `spec.ingress[0].ports[5].port: Invalid value: "": must contain at least one letter (a-z)`),
			},
		},

		// policyTypes.
		{
			name: "repeated policyType is accepted",
			np:   makeNetworkPolicyCustom(setPolicyTypes("Ingress", "Ingress")),
		},
		{
			name: "empty and lower-case policyTypes",
			np:   makeNetworkPolicyCustom(setPolicyTypes("", "egress")),
			want: []wantErr{
				notSupported("spec.policyTypes[0]", `spec.policyTypes[0]: Unsupported value: "": supported values: "Ingress", "Egress"`),
				notSupported("spec.policyTypes[1]", `spec.policyTypes[1]: Unsupported value: "egress": supported values: "Ingress", "Egress"`),
			},
		},
		{
			name: "too many policyTypes, even valid ones",
			np:   makeNetworkPolicyCustom(setPolicyTypes("Ingress", "Egress", "Ingress")),
			want: []wantErr{invalid("spec.policyTypes", `spec.policyTypes: Invalid value: ["Ingress","Egress","Ingress"]: may not specify more than two policyTypes`)},
		},

		// Selectors.
		{
			name: "empty selectors select everything",
			np: makeNetworkPolicyCustom(setPodSelector(metav1.LabelSelector{}), func(np *networkingv1.NetworkPolicy) {
				np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
					PodSelector: &metav1.LabelSelector{}, NamespaceSelector: &metav1.LabelSelector{},
				}}}}
			}),
		},
		{
			name: "matchExpressions",
			np: makeNetworkPolicyCustom(setPodSelector(metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app", Operator: "In", Values: []string{"web", "db"}},
				{Key: "tier", Operator: "NotIn"},
				{Key: "env", Operator: "Exists", Values: []string{"prod"}},
				{Key: "x y", Operator: "DoesNotExist"},
				{Key: "k8s.io/app", Operator: "Equals", Values: []string{"a b"}},
			}})),
			want: []wantErr{
				required("spec.podSelector.matchExpressions[1].values", "spec.podSelector.matchExpressions[1].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"),
				forbidden("spec.podSelector.matchExpressions[2].values", "spec.podSelector.matchExpressions[2].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"),
				invalid("spec.podSelector.matchExpressions[3].key", `spec.podSelector.matchExpressions[3].key: Invalid value: "x y": `+labelNameRule),
				invalid("spec.podSelector.matchExpressions[4].operator", `spec.podSelector.matchExpressions[4].operator: Invalid value: "Equals": not a valid selector operator`),
				invalid("spec.podSelector.matchExpressions[4].values[0]", `spec.podSelector.matchExpressions[4].values[0]: Invalid value: "a b": `+labelValueRule),
			},
		},
		{
			name: "matchLabels reported in key order",
			np: makeNetworkPolicyCustom(setIngressFromEmptyFirstElement, func(np *networkingv1.NetworkPolicy) {
				np.Spec.Ingress[0].From[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{
					corev1.LabelMetadataName: "prod", "b": "x y", "a": "@",
				}}
			}),
			want: []wantErr{
				invalid("spec.ingress[0].from[0].namespaceSelector.matchLabels", `spec.ingress[0].from[0].namespaceSelector.matchLabels: Invalid value: "@": `+labelValueRule),
				invalid("spec.ingress[0].from[0].namespaceSelector.matchLabels", `spec.ingress[0].from[0].namespaceSelector.matchLabels: Invalid value: "x y": `+labelValueRule),
			},
		},
		{
			name: "repeated messages are reported once",
			np: makeNetworkPolicyCustom(func(np *networkingv1.NetworkPolicy) {
				np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
					PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "x y", "b": "x y"}},
				}}}}
			}),
			want: []wantErr{invalid("spec.ingress[0].from[0].podSelector.matchLabels", `spec.ingress[0].from[0].podSelector.matchLabels: Invalid value: "x y": `+labelValueRule)},
		},
	}
}

func upstreamPolicyUpdateCases() []policyUpdateCase {
	withRV := func(np *networkingv1.NetworkPolicy) *networkingv1.NetworkPolicy {
		np.ResourceVersion = "1"
		return np
	}
	policy := func(name string, sel map[string]string, ingress ...networkingv1.NetworkPolicyIngressRule) *networkingv1.NetworkPolicy {
		if ingress == nil {
			ingress = []networkingv1.NetworkPolicyIngressRule{}
		}
		return withRV(&networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bar"},
			Spec:       networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: sel}, Ingress: ingress},
		})
	}
	ipBlock := func(cidr string, except ...string) networkingv1.NetworkPolicyIngressRule {
		return networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: cidr, Except: except}}}}
	}
	ab := map[string]string{"a": "b"}
	return []policyUpdateCase{
		{name: "no change", old: policy("foo", ab), np: policy("foo", ab)},
		{name: "change spec", old: policy("foo", nil), np: policy("foo", ab)},
		{
			name: "fix pre-existing invalid CIDR",
			old:  policy("foo", ab, ipBlock("192.168.0.0/16", "192.168.2.0/24", "192.168.3.1/24")),
			np:   policy("foo", ab, ipBlock("192.168.0.0/16", "192.168.2.0/24", "192.168.3.0/24")),
		},
		{
			name: "fail to fix pre-existing invalid CIDR",
			old:  policy("foo", ab, ipBlock("192.168.0.0/16", "192.168.2.0/24", "192.168.3.1/24")),
			np:   policy("foo", ab, ipBlock("192.168.0.0/16", "192.168.1.0/24", "192.168.2.0/24", "192.168.3.1/24")),
		},
		{
			name: "change name",
			old:  policy("foo", nil),
			np:   policy("baz", nil),
			want: []wantErr{invalid("metadata.name", `metadata.name: Invalid value: "baz": field is immutable`)},
		},
		{
			name: "add new invalid CIDR",
			old:  policy("foo", ab, ipBlock("192.168.0.0/16", "192.168.2.0/24", "192.168.3.0/24")),
			np:   policy("foo", ab, ipBlock("192.168.0.0/16", "192.168.1.1/24", "192.168.2.0/24", "192.168.3.0/24")),
			want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.except[0]", `spec.ingress[0].from[0].ipBlock.except[0]: Invalid value: "192.168.1.1/24": must not have bits set beyond the prefix length`)},
		},
	}
}

func morePolicyUpdateCases() []policyUpdateCase {
	stored := func(tweaks ...netpolTweak) *networkingv1.NetworkPolicy {
		np := makeNetworkPolicyCustom(tweaks...)
		np.ResourceVersion = "7"
		np.UID = "0b1c"
		np.Generation = 3
		DefaultNetworkPolicy(np)
		return np
	}
	badValueSelector := metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "In", Values: []string{"x y"}}}}
	setEgressToBadValueSelector := func(np *networkingv1.NetworkPolicy) {
		setEgressToIfEmpty(np)
		sel := badValueSelector
		np.Spec.Egress[0].To[0].NamespaceSelector = &sel
	}
	return []policyUpdateCase{
		{
			name: "an unconditional update takes the stored resourceVersion",
			old:  stored(),
			np:   makeNetworkPolicyCustom(setIngressEmptyFirstElement),
		},
		{
			name: "a stored object without resourceVersion cannot be updated",
			old:  makeNetworkPolicyCustom(),
			np:   makeNetworkPolicyCustom(setIngressEmptyFirstElement),
			want: []wantErr{invalid("metadata.resourceVersion", `metadata.resourceVersion: Invalid value: "": must be specified for an update`)},
		},
		{
			name: "uid is immutable",
			old:  stored(),
			np:   makeNetworkPolicyCustom(setMeta(func(m *metav1.ObjectMeta) { m.UID = "other" })),
			want: []wantErr{invalid("metadata.uid", `metadata.uid: Invalid value: "other": field is immutable`)},
		},
		{
			// A real request with another namespace fails earlier, as a bad request.
			name: "namespace is immutable",
			old:  stored(),
			np:   makeNetworkPolicyCustom(setMeta(func(m *metav1.ObjectMeta) { m.Namespace = "other" })),
			want: []wantErr{invalid("metadata.namespace", `metadata.namespace: Invalid value: "other": field is immutable`)},
		},
		{
			name: "an invalid label is reported once, though checked three times",
			old:  stored(),
			np:   makeNetworkPolicyCustom(setMeta(func(m *metav1.ObjectMeta) { m.Labels = map[string]string{"a b": "c", "d": "-"} })),
			want: []wantErr{
				invalid("metadata.labels", `metadata.labels: Invalid value: "a b": `+labelNameRule),
				invalid("metadata.labels", `metadata.labels: Invalid value: "-": `+labelValueRule),
			},
		},
		{
			name: "invalid selector values are errors while the stored podSelector is valid",
			old:  stored(),
			np:   makeNetworkPolicyCustom(setEgressToBadValueSelector),
			want: []wantErr{invalid("spec.egress[0].to[0].namespaceSelector.matchExpressions[0].values[0]", `spec.egress[0].to[0].namespaceSelector.matchExpressions[0].values[0]: Invalid value: "x y": `+labelValueRule)},
		},
		{
			name: "invalid selector values are tolerated once the stored podSelector is invalid",
			old:  stored(setPodSelector(badValueSelector)),
			np:   makeNetworkPolicyCustom(setPodSelector(badValueSelector), setEgressToBadValueSelector),
		},
		{
			name: "tolerance covers values, not keys",
			old:  stored(setPodSelector(badValueSelector)),
			np: makeNetworkPolicyCustom(setPodSelector(metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "a b", Operator: "In", Values: []string{"x y"}},
			}})),
			want: []wantErr{invalid("spec.podSelector.matchExpressions[0].key", `spec.podSelector.matchExpressions[0].key: Invalid value: "a b": `+labelNameRule)},
		},
		{
			name: "a stored invalid CIDR may move to another rule",
			old:  stored(setIngressFromIPBlock("10.0.0.1/8")),
			np: makeNetworkPolicyCustom(setEgressToIfEmpty, func(np *networkingv1.NetworkPolicy) {
				np.Spec.Egress[0].To[0].IPBlock = &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.0.0.1/8"}}
			}),
			want: []wantErr{invalid("spec.egress[0].to[0].ipBlock.except[0]", "spec.egress[0].to[0].ipBlock.except[0]: Invalid value: \"10.0.0.1/8\": must be a strict subset of `cidr`")},
		},
		{
			name: "an unchanged ingress keeps its missing cidr error in place",
			old:  stored(setIngressFromIPBlock("")),
			np: makeNetworkPolicyCustom(setIngressFromIPBlock(""), setEgressPorts(makePort(protocolICMP, intstr.FromInt32(53), 0)), func(np *networkingv1.NetworkPolicy) {
				DefaultNetworkPolicy(np)
			}),
			want: []wantErr{
				required("spec.ingress[0].from[0].ipBlock.cidr", "spec.ingress[0].from[0].ipBlock.cidr: Required value"),
				notSupported("spec.egress[0].ports[0].protocol", `spec.egress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"`),
			},
		},
		{
			name: "a changed ingress reports its missing cidr last",
			old:  stored(setIngressFromIPBlock("")),
			np: makeNetworkPolicyCustom(setIngressFromIPBlock(""), setIngressPorts(makePort(protocolICMP, intstr.FromInt32(53), 0)), func(np *networkingv1.NetworkPolicy) {
				DefaultNetworkPolicy(np)
			}),
			want: []wantErr{
				notSupported("spec.ingress[0].ports[0].protocol", `spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"`),
				required("spec.ingress[0].from[0].ipBlock.cidr", "spec.ingress[0].from[0].ipBlock.cidr: Required value"),
			},
		},
		{
			name: "a deleting object takes no new finalizers",
			old: stored(setMeta(func(m *metav1.ObjectMeta) {
				now := metav1.Unix(1700000000, 0)
				m.DeletionTimestamp = &now
				m.Finalizers = []string{"example.com/a"}
			})),
			np:   makeNetworkPolicyCustom(setMeta(func(m *metav1.ObjectMeta) { m.Finalizers = []string{"example.com/a", "example.com/b"} })),
			want: []wantErr{forbidden("metadata.finalizers", `metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"example.com/b"}`)},
		},
	}
}

type warningCase struct {
	name string
	np   *networkingv1.NetworkPolicy
	want []string
}

// policyWarningCases follow TestNetworkPolicyStrategy's warning checks, with
// the strings it only matched by prefix spelled out.
func policyWarningCases() []warningCase {
	addEgressIPBlock := func(cidr string, except ...string) netpolTweak {
		return func(np *networkingv1.NetworkPolicy) {
			np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{
				IPBlock: &networkingv1.IPBlock{CIDR: cidr, Except: except},
			}}})
		}
	}
	base := func(np *networkingv1.NetworkPolicy) {
		ports := []networkingv1.NetworkPolicyPort{{Protocol: protocolTCP, Port: &intstr.IntOrString{Type: intstr.Int, IntVal: 31000}, EndPort: func() *int32 { v := int32(32000); return &v }()}}
		nsSel := &metav1.LabelSelector{MatchLabels: map[string]string{"c": "d"}}
		np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: nsSel}}, Ports: ports}}
		np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: nsSel}}, Ports: ports}}
	}
	return []warningCase{
		{name: "no ipBlock", np: makeNetworkPolicyCustom(base)},
		{name: "valid ipBlock", np: makeNetworkPolicyCustom(base, addEgressIPBlock("10.0.0.0/8"))},
		{
			name: "IPv4-mapped cidr and except with host bits",
			np:   makeNetworkPolicyCustom(base, addEgressIPBlock("10.0.0.0/8"), addEgressIPBlock("::ffff:10.0.0.0/104", "10.0.0.1/16")),
			want: []string{
				`spec.egress[2].to[0].ipBlock.cidr: non-standard CIDR value "::ffff:10.0.0.0/104" is invalid: use "10.0.0.0/8"`,
				`spec.egress[2].to[0].ipBlock.except[0]: CIDR value "10.0.0.1/16" is ambiguous in this context (should be "10.0.0.0/16" or "10.0.0.1/32"?)`,
			},
		},
		{
			name: "leading zeros",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("010.000.0.0/16", "10.0.1.0/024")),
			want: []string{
				`spec.ingress[0].from[0].ipBlock.cidr: non-standard CIDR value "010.000.0.0/16" is invalid: use "10.0.0.0/16"`,
				`spec.ingress[0].from[0].ipBlock.except[0]: non-standard CIDR value "10.0.1.0/024" is invalid: use "10.0.1.0/24"`,
			},
		},
		{
			name: "non-canonical IPv6",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("FD00:0::/48", "fd00::/64")),
			want: []string{`spec.ingress[0].from[0].ipBlock.cidr: IPv6 CIDR value "FD00:0::/48" should be in RFC 5952 canonical format ("fd00::/48")`},
		},
		{
			name: "host bits and leading zeros together",
			np:   makeNetworkPolicyCustom(setIngressFromIPBlock("10.0.0.01/8")),
			want: []string{
				`spec.ingress[0].from[0].ipBlock.cidr: CIDR value "10.0.0.01/8" is ambiguous in this context (should be "10.0.0.0/8" or "10.0.0.1/32"?)`,
				`spec.ingress[0].from[0].ipBlock.cidr: non-standard CIDR value "10.0.0.01/8" is invalid: use "10.0.0.0/8"`,
			},
		},
		{name: "unparsable values have none", np: makeNetworkPolicyCustom(setIngressFromIPBlock("bogus", ""))},
	}
}
