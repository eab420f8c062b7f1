package validation

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Vocabularies for the generator: a valid half and a half near the edges
// of every rule, so that short fuzz inputs reach deep into validation, yet
// many generated objects pass and exercise warnings and later checks.
// Arbitrary bytes are mixed in by byteSource.str as well.
type vocab struct{ valid, invalid []string }

var (
	fuzzCIDRs = vocab{
		valid: []string{"10.0.0.0/8", "10.1.0.0/16", "192.168.0.0/16", "192.168.3.0/24", "0.0.0.0/0", "1.2.3.4/32",
			"fd00::/48", "FD00::/48", "fd00:0::/48", "fd00:0:0:1::/64", "fd01::/64", "::/0"},
		invalid: []string{"10.0.0.1/8", "010.0.0.0/8", "10.0.0.0/08", "10.0.0.0/33", "192.168.3.1/24", "1.2.3.4",
			"::ffff:10.0.0.0/104", "::ffff:10.0.0.0/96", "fd00::1/48", "2001:db8::/129", "", " ", "300.1.1.1/8", "10.0.0.0/8 "},
	}
	fuzzLabelKeys = vocab{
		valid:   []string{"a", "app", "k8s.io/app", "Example.com/x", strings.Repeat("k", 63)},
		invalid: []string{"A B", "x/y/z", "", "-a", "a-", "example.com/", "/a", strings.Repeat("k", 64), strings.Repeat("d", 254) + "/a"},
	}
	fuzzLabelValues = vocab{
		valid:   []string{"", "b", "x_y.z", "B-1"},
		invalid: []string{"a b", "-", "@", strings.Repeat("v", 64)},
	}
	fuzzOperators = vocab{valid: []string{"In", "NotIn", "Exists", "DoesNotExist"}, invalid: []string{"Foo", "", "in"}}
	fuzzProtocols = vocab{valid: []string{"TCP", "UDP", "SCTP"}, invalid: []string{"ICMP", "tcp", ""}}
	fuzzPortNames = vocab{
		valid:   []string{"dns", "http", "x", "web-8080", "a1"},
		invalid: []string{"", "0", "a-", "-a", "a--b", "toolongportname1", "ALLCAPS", "1234", "a_b"},
	}
	fuzzPortNums    = []int32{1, 53, 80, 443, 32000, 32768, 65535, 0, 65536, -1, 123456789}
	fuzzPolicyTypes = vocab{valid: []string{"Ingress", "Egress"}, invalid: []string{"foo", ""}}
	fuzzNames       = vocab{
		valid:   []string{"foo", "bar", "a.b", "x-1", strings.Repeat("n", 63)},
		invalid: []string{"Foo", "", "-x", "x_y", "a..b", strings.Repeat("n", 64), strings.Repeat("n", 254)},
	}
	fuzzFinalizers = vocab{valid: []string{"kubernetes", "a/b", "orphan", "foregroundDeletion"}, invalid: []string{"foo", "A/B/C", ""}}
	fuzzVersions   = vocab{valid: []string{"1", "2"}, invalid: []string{"", "0"}}
)

// byteSource turns fuzz input into choices; once the input is used up every
// choice is 0, so every input describes a finite object.
type byteSource struct{ data []byte }

func (b *byteSource) next() byte {
	if len(b.data) == 0 {
		return 0
	}
	c := b.data[0]
	b.data = b.data[1:]
	return c
}

func (b *byteSource) pick(n int) int { return int(b.next()) % n }

func (b *byteSource) chance(outOf int) bool { return b.pick(outOf) == 0 }

// str picks from v, mostly a valid value, or now and then takes a raw slice
// of the input.
func (b *byteSource) str(v vocab) string {
	switch c := b.next(); {
	case c >= 0xf0:
		n := int(c-0xf0) + 1
		if n > len(b.data) {
			n = len(b.data)
		}
		s := string(b.data[:n])
		b.data = b.data[n:]
		return s
	case c >= 0xc0:
		return v.invalid[int(c)%len(v.invalid)]
	default:
		return v.valid[int(c)%len(v.valid)]
	}
}

func (b *byteSource) stringMap(keys, values vocab) map[string]string {
	n := b.pick(4)
	if n == 0 {
		if b.chance(2) {
			return nil
		}
		return map[string]string{}
	}
	m := map[string]string{}
	for range n {
		m[b.str(keys)] = b.str(values)
	}
	return m
}

func (b *byteSource) selector() *metav1.LabelSelector {
	s := &metav1.LabelSelector{MatchLabels: b.stringMap(fuzzLabelKeys, fuzzLabelValues)}
	for range b.pick(3) {
		r := metav1.LabelSelectorRequirement{Key: b.str(fuzzLabelKeys), Operator: metav1.LabelSelectorOperator(b.str(fuzzOperators))}
		if r.Operator == metav1.LabelSelectorOpIn || r.Operator == metav1.LabelSelectorOpNotIn || b.chance(4) {
			for range b.pick(3) + 1 {
				r.Values = append(r.Values, b.str(fuzzLabelValues))
			}
		}
		s.MatchExpressions = append(s.MatchExpressions, r)
	}
	return s
}

func (b *byteSource) ports() []networkingv1.NetworkPolicyPort {
	if b.chance(2) {
		return nil
	}
	ports := []networkingv1.NetworkPolicyPort{}
	for range b.pick(4) {
		var p networkingv1.NetworkPolicyPort
		if !b.chance(3) {
			proto := corev1.Protocol(b.str(fuzzProtocols))
			p.Protocol = &proto
		}
		switch b.pick(3) {
		case 1:
			port := intstr.FromInt32(fuzzPortNums[b.pick(len(fuzzPortNums))])
			p.Port = &port
			if b.chance(2) {
				end := fuzzPortNums[b.pick(len(fuzzPortNums))]
				p.EndPort = &end
			}
		case 2:
			port := intstr.FromString(b.str(fuzzPortNames))
			p.Port = &port
		}
		if b.chance(8) {
			end := fuzzPortNums[b.pick(len(fuzzPortNums))]
			p.EndPort = &end
		}
		ports = append(ports, p)
	}
	return ports
}

func (b *byteSource) peers() []networkingv1.NetworkPolicyPeer {
	if b.chance(2) {
		return nil
	}
	peers := []networkingv1.NetworkPolicyPeer{}
	for range b.pick(4) {
		var p networkingv1.NetworkPolicyPeer
		switch which := b.next(); {
		case which < 0x40:
			p.PodSelector = b.selector()
		case which < 0x80:
			p.NamespaceSelector = b.selector()
		case which < 0xa0:
			p.PodSelector = b.selector()
			p.NamespaceSelector = b.selector()
		case which < 0xf0:
			p.IPBlock = &networkingv1.IPBlock{CIDR: b.str(fuzzCIDRs)}
			for range b.pick(4) {
				p.IPBlock.Except = append(p.IPBlock.Except, b.str(fuzzCIDRs))
			}
		default:
			// Any combination, including none and ipBlock with another peer.
			if which&1 != 0 {
				p.PodSelector = b.selector()
			}
			if which&2 != 0 {
				p.NamespaceSelector = b.selector()
			}
			if which&4 != 0 {
				p.IPBlock = &networkingv1.IPBlock{CIDR: b.str(fuzzCIDRs)}
			}
		}
		peers = append(peers, p)
	}
	return peers
}

func (b *byteSource) meta() metav1.ObjectMeta {
	m := metav1.ObjectMeta{
		Name:            b.str(fuzzNames),
		Namespace:       b.str(fuzzNames),
		ResourceVersion: b.str(fuzzVersions),
		Generation:      int64(b.pick(3)) - 1,
		Labels:          b.stringMap(fuzzLabelKeys, fuzzLabelValues),
	}
	if b.chance(4) {
		m.Annotations = b.stringMap(fuzzLabelKeys, fuzzLabelValues)
	}
	for range b.pick(3) / 2 {
		m.Finalizers = append(m.Finalizers, b.str(fuzzFinalizers))
	}
	return m
}

// fuzzPolicy builds a policy from fuzz input. Every field a rule looks at is
// reachable, including nil-versus-empty lists, which defaulting and update
// ratcheting treat differently.
func fuzzPolicy(data []byte) *networkingv1.NetworkPolicy {
	b := &byteSource{data: data}
	np := &networkingv1.NetworkPolicy{ObjectMeta: b.meta()}
	np.Spec.PodSelector = *b.selector()
	if !b.chance(3) {
		np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{}
		for range b.pick(3) {
			np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{Ports: b.ports(), From: b.peers()})
		}
	}
	if !b.chance(3) {
		np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{}
		for range b.pick(3) {
			np.Spec.Egress = append(np.Spec.Egress, networkingv1.NetworkPolicyEgressRule{Ports: b.ports(), To: b.peers()})
		}
	}
	for range b.pick(4) {
		np.Spec.PolicyTypes = append(np.Spec.PolicyTypes, networkingv1.PolicyType(b.str(fuzzPolicyTypes)))
	}
	return np
}

// errorStrings keeps everything a caller can observe of an error list.
func errorStrings(errs field.ErrorList) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = string(e.Type) + "|" + e.Field + "|" + e.Error()
	}
	return out
}

func checkErrors(t *testing.T, what string, errs field.ErrorList) {
	t.Helper()
	for _, e := range errs {
		if e.Field == "" {
			t.Errorf("%s: error without a field path: %v", what, e)
		}
	}
}

func FuzzValidateNetworkPolicy(f *testing.F) {
	for _, seed := range []string{
		"",
		"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f",
		"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0\xef\xee\xed\xec\xeb\xea",
		"\x00\x00\x00\x00\x00\x01\x01\x01\x05\x07\x03\x02\x01\x00\x07\x05\x02\x01\x03\x04\x07\x05",
		"foo\x00bar\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07\x07",
		"\x08\x08\x08 \x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08",
	} {
		f.Add([]byte(seed), []byte(seed))
	}
	f.Fuzz(func(t *testing.T, data, olddata []byte) {
		np := fuzzPolicy(data)
		before := np.DeepCopy()

		// Validation never changes its input.
		errs := ValidateNetworkPolicy(np)
		if !reflect.DeepEqual(np, before) {
			t.Fatalf("ValidateNetworkPolicy modified its input")
		}
		checkErrors(t, "create", errs)
		if again := ValidateNetworkPolicy(np); !reflect.DeepEqual(errorStrings(errs), errorStrings(again)) {
			t.Fatalf("create not deterministic:\n%q\n%q", errorStrings(errs), errorStrings(again))
		}

		DefaultNetworkPolicy(np)
		once := np.DeepCopy()
		DefaultNetworkPolicy(np)
		if !reflect.DeepEqual(np, once) {
			t.Fatalf("defaulting not idempotent")
		}
		if len(np.Spec.PolicyTypes) == 0 {
			t.Fatalf("defaulting left policyTypes empty")
		}
		errs = ValidateNetworkPolicy(np)
		checkErrors(t, "create (defaulted)", errs)
		if again := ValidateNetworkPolicy(np); !reflect.DeepEqual(errorStrings(errs), errorStrings(again)) {
			t.Fatalf("create not deterministic:\n%q\n%q", errorStrings(errs), errorStrings(again))
		}
		warnings := NetworkPolicyWarnings(np)
		if again := NetworkPolicyWarnings(np); !reflect.DeepEqual(warnings, again) {
			t.Fatalf("warnings not deterministic")
		}

		old := fuzzPolicy(olddata)
		DefaultNetworkPolicy(old)
		oldBefore, npBefore := old.DeepCopy(), np.DeepCopy()
		up := ValidateNetworkPolicyUpdate(np, old)
		if !reflect.DeepEqual(np, npBefore) || !reflect.DeepEqual(old, oldBefore) {
			t.Fatalf("ValidateNetworkPolicyUpdate modified its input")
		}
		checkErrors(t, "update", up)
		if again := ValidateNetworkPolicyUpdate(np, old); !reflect.DeepEqual(errorStrings(up), errorStrings(again)) {
			t.Fatalf("update not deterministic:\n%q\n%q", errorStrings(up), errorStrings(again))
		}
		// Upstream drops repeated messages, so neither list has any.
		for what, list := range map[string]field.ErrorList{"create": errs, "update": up} {
			seen := map[string]bool{}
			for _, e := range list {
				if seen[e.Error()] {
					t.Fatalf("%s: repeated error %q", what, e.Error())
				}
				seen[e.Error()] = true
			}
		}
	})
}

// FuzzValidatePolicyJSON feeds raw JSON, the way manifests arrive, to catch
// shapes the generator does not build.
func FuzzValidatePolicyJSON(f *testing.F) {
	for _, seed := range []string{
		`{"metadata":{"name":"foo","namespace":"bar"},"spec":{"podSelector":{}}}`,
		`{"metadata":{"name":"foo","namespace":"bar"},"spec":{"ingress":[{"from":[{"ipBlock":{"cidr":""}},{"namespaceSelector":{},"ipBlock":{"cidr":"10.0.0.1/8","except":["001.2.3.4/32"]}}]}],"egress":[{"to":[{}],"ports":[{"port":"!@#","endPort":3},{"protocol":"ICMP","port":0}]}],"policyTypes":["Ingress","Egress","x"]}}`,
		`{"metadata":{"name":"Foo_","labels":{"a b":"c d"}},"spec":{"podSelector":{"matchExpressions":[{"key":"a","operator":"Foo","values":["a b"]}]}}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var np networkingv1.NetworkPolicy
		if json.Unmarshal(data, &np) != nil {
			return
		}
		DefaultNetworkPolicy(&np)
		errs := ValidateNetworkPolicy(&np)
		checkErrors(t, "create", errs)
		if again := ValidateNetworkPolicy(&np); !reflect.DeepEqual(errorStrings(errs), errorStrings(again)) {
			t.Fatalf("create not deterministic:\n%q\n%q", errorStrings(errs), errorStrings(again))
		}
		checkErrors(t, "update", ValidateNetworkPolicyUpdate(&np, &np))
		NetworkPolicyWarnings(&np)
	})
}
