package clusterpolicy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// decodeYAML reads a manifest the way the API server reads a request body:
// YAML to JSON, then JSON with integers kept as int64 (CEL rules on ports
// need them as integers, not float64).
func decodeYAML(t testing.TB, doc string) map[string]interface{} {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]interface{}{}
	if err := utiljson.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// invalidClusterNetworkPolicies are objects kube-apiserver v1.37.2 with
// network-policy-api v0.3.0's CRDs installed rejects, with the field errors
// its apiextensions code returns. TestInvalidMatchesAPIServer sends each to
// a real kube-apiserver with the case's CRD channel installed and requires
// the same response.
var invalidClusterNetworkPolicies = []struct {
	name     string
	channel  CRDChannel
	doc      string
	errs     []string
	warnings []string
}{
	{
		name: "tier-missing", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: tier-missing}
spec:
  priority: 1
  subject: {namespaces: {}}
`,
		errs: []string{
			"spec.tier: Required value",
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "tier-unknown", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: tier-unknown}
spec:
  tier: Middle
  priority: 1
  subject: {namespaces: {}}
`,
		errs: []string{
			`spec.tier: Unsupported value: "Middle": supported values: "Admin", "Baseline"`,
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "priority-missing", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: priority-missing}
spec:
  tier: Admin
  subject: {namespaces: {}}
`,
		errs: []string{
			"spec.priority: Required value",
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "priority-too-high", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: priority-too-high}
spec:
  tier: Admin
  priority: 1001
  subject: {namespaces: {}}
`,
		errs: []string{
			"spec.priority: Invalid value: 1001: spec.priority in body should be less than or equal to 1000",
		},
	},
	{
		name: "priority-negative", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: priority-negative}
spec:
  tier: Baseline
  priority: -1
  subject: {namespaces: {}}
`,
		errs: []string{
			"spec.priority: Invalid value: -1: spec.priority in body should be greater than or equal to 0",
		},
	},
	{
		name: "priority-string", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: priority-string}
spec:
  tier: Admin
  priority: "high"
  subject: {namespaces: {}}
`,
		errs: []string{
			`spec.priority: Invalid value: "string": spec.priority in body must be of type integer: "string"`,
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "subject-missing", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: subject-missing}
spec:
  tier: Admin
  priority: 1
`,
		errs: []string{
			"spec.subject: Required value",
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "subject-empty", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: subject-empty}
spec:
  tier: Admin
  priority: 1
  subject: {}
`,
		errs: []string{
			"spec.subject: Invalid value: 0: spec.subject in body should have at least 1 properties",
		},
	},
	{
		name: "subject-both", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: subject-both}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}, pods: {podSelector: {}}}
`,
		errs: []string{
			"spec.subject: Too many: 2: must have at most 1 item",
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "subject-pods-no-podselector", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: subject-pods-no-podselector}
spec:
  tier: Admin
  priority: 1
  subject: {pods: {namespaceSelector: {}}}
`,
		errs: []string{
			"spec.subject.pods.podSelector: Required value",
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "action-missing", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: action-missing}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{from: [{namespaces: {}}]}]
`,
		errs: []string{
			"spec.ingress[0].action: Required value",
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "action-unknown", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: action-unknown}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Allow, from: [{namespaces: {}}]}]
`,
		errs: []string{
			`spec.ingress[0].action: Unsupported value: "Allow": supported values: "Accept", "Deny", "Pass"`,
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "from-missing", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: from-missing}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Deny}]
`,
		errs: []string{
			"spec.ingress[0].from: Required value",
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "from-empty", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: from-empty}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: []}]
`,
		errs: []string{
			"spec.ingress[0].from: Invalid value: 0: spec.ingress[0].from in body should have at least 1 items",
		},
	},
	{
		name: "ingress-peer-empty", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: ingress-peer-empty}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{}]}]
`,
		errs: []string{
			"spec.ingress[0].from[0]: Invalid value: 0: spec.ingress[0].from[0] in body should have at least 1 properties",
		},
	},
	{
		name: "ingress-peer-two-fields", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: ingress-peer-two-fields}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}, pods: {podSelector: {}}}]}]
`,
		errs: []string{
			"spec.ingress[0].from[0]: Too many: 2: must have at most 1 item",
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "ingress-networks-dropped", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: ingress-networks-dropped}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{networks: ["10.0.0.0/8"]}]}]
`,
		errs: []string{
			"spec.ingress[0].from[0]: Invalid value: 0: spec.ingress[0].from[0] in body should have at least 1 properties",
		},
		warnings: []string{`unknown field "spec.ingress[0].from[0].networks"`},
	},
	{
		name: "rule-name-too-long", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: rule-name-too-long}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{name: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", action: Deny, from: [{namespaces: {}}]}]
`,
		errs: []string{
			"spec.ingress[0].name: Too long: may not be more than 100 bytes",
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "to-missing", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: to-missing}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Deny}]
`,
		errs: []string{
			"spec.egress[0].to: Required value",
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "egress-peer-empty", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: egress-peer-empty}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{}]}]
`,
		errs: []string{
			"spec.egress[0].to[0]: Invalid value: 0: spec.egress[0].to[0] in body should have at least 1 properties",
		},
	},
	{
		name: "egress-peer-two-fields", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: egress-peer-two-fields}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{networks: ["10.0.0.0/8"], nodes: {}}]}]
`,
		errs: []string{
			"spec.egress[0].to[0]: Too many: 2: must have at most 1 item",
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "cidr-host-bits", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: cidr-host-bits}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{networks: ["10.0.0.1/8"]}]}]
`,
		errs: []string{
			`spec.egress[0].to[0].networks[0]: Invalid value: "10.0.0.1/8": Invalid CIDR format provided`,
		},
	},
	{
		name: "cidr-garbage", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: cidr-garbage}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{networks: ["not-a-cidr"]}]}]
`,
		errs: []string{
			`spec.egress[0].to[0].networks[0]: Invalid value: "not-a-cidr": Invalid CIDR format provided`,
		},
	},
	{
		name: "cidr-bare-ip", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: cidr-bare-ip}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{networks: ["10.0.0.1"]}]}]
`,
		errs: []string{
			`spec.egress[0].to[0].networks[0]: Invalid value: "10.0.0.1": Invalid CIDR format provided`,
		},
	},
	{
		name: "cidr-duplicate", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: cidr-duplicate}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{networks: ["10.0.0.0/8", "10.0.0.0/8"]}]}]
`,
		errs: []string{
			`spec.egress[0].to[0].networks[1]: Duplicate value: "10.0.0.0/8"`,
		},
	},
	{
		name: "networks-empty", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: networks-empty}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{networks: []}]}]
`,
		errs: []string{
			"spec.egress[0].to[0].networks: Invalid value: 0: spec.egress[0].to[0].networks in body should have at least 1 items",
		},
	},
	{
		name: "cidr-too-long", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: cidr-too-long}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{networks: ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]}]}]
`,
		errs: []string{
			"spec.egress[0].to[0].networks[0]: Too long: may not be more than 43 bytes",
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "domain-bad", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: domain-bad}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Accept, to: [{domainNames: ["-bad-.example"]}]}]
`,
		errs: []string{
			`spec.egress[0].to[0].domainNames[0]: Invalid value: "-bad-.example": spec.egress[0].to[0].domainNames[0] in body should match '^(\*\.)?([a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$'`,
		},
	},
	{
		name: "domain-wildcard-middle", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: domain-wildcard-middle}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Accept, to: [{domainNames: ["www.*.example.com"]}]}]
`,
		errs: []string{
			`spec.egress[0].to[0].domainNames[0]: Invalid value: "www.*.example.com": spec.egress[0].to[0].domainNames[0] in body should match '^(\*\.)?([a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$'`,
		},
	},
	{
		name: "domain-single-label", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: domain-single-label}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Accept, to: [{domainNames: ["localhost"]}]}]
`,
		errs: []string{
			`spec.egress[0].to[0].domainNames[0]: Invalid value: "localhost": spec.egress[0].to[0].domainNames[0] in body should match '^(\*\.)?([a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.)+[a-zA-Z0-9]([-a-zA-Z0-9_]*[a-zA-Z0-9])?\.?$'`,
		},
	},
	{
		name: "protocols-empty", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: protocols-empty}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}], protocols: []}]
`,
		errs: []string{
			"spec.ingress[0].protocols: Invalid value: 0: spec.ingress[0].protocols in body should have at least 1 items",
		},
	},
	{
		name: "protocol-empty", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: protocol-empty}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{}]}]
`,
		errs: []string{
			"spec.ingress[0].protocols[0]: Invalid value: 0: spec.ingress[0].protocols[0] in body should have at least 1 properties",
		},
	},
	{
		name: "protocol-two", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: protocol-two}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {number: 80}}, udp: {destinationPort: {number: 53}}}]}]
`,
		errs: []string{
			"spec.ingress[0].protocols[0]: Too many: 2: must have at most 1 item",
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "tcp-empty", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: tcp-empty}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {}}]}]
`,
		errs: []string{
			"spec.ingress[0].protocols[0].tcp: Invalid value: 0: spec.ingress[0].protocols[0].tcp in body should have at least 1 properties",
		},
	},
	{
		name: "port-empty", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: port-empty}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{udp: {destinationPort: {}}}]}]
`,
		errs: []string{
			"spec.ingress[0].protocols[0].udp.destinationPort: Invalid value: 0: spec.ingress[0].protocols[0].udp.destinationPort in body should have at least 1 properties",
		},
	},
	{
		name: "port-zero", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: port-zero}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {number: 0}}}]}]
`,
		errs: []string{
			"spec.ingress[0].protocols[0].tcp.destinationPort.number: Invalid value: 0: spec.ingress[0].protocols[0].tcp.destinationPort.number in body should be greater than or equal to 1",
		},
	},
	{
		name: "port-too-big", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: port-too-big}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{sctp: {destinationPort: {number: 65536}}}]}]
`,
		errs: []string{
			"spec.ingress[0].protocols[0].sctp.destinationPort.number: Invalid value: 65536: spec.ingress[0].protocols[0].sctp.destinationPort.number in body should be less than or equal to 65535",
		},
	},
	{
		name: "port-number-and-range", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: port-number-and-range}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {number: 80, range: {start: 1, end: 2}}}}]}]
`,
		errs: []string{
			"spec.ingress[0].protocols[0].tcp.destinationPort: Too many: 2: must have at most 1 item",
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "range-equal", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: range-equal}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {range: {start: 80, end: 80}}}}]}]
`,
		errs: []string{
			"spec.ingress[0].protocols[0].tcp.destinationPort.range: Invalid value: Start port must be less than End port",
		},
	},
	{
		name: "range-reversed", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: range-reversed}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{namespaces: {}}], protocols: [{udp: {destinationPort: {range: {start: 90, end: 80}}}}]}]
`,
		errs: []string{
			"spec.egress[0].protocols[0].udp.destinationPort.range: Invalid value: Start port must be less than End port",
		},
	},
	{
		name: "range-missing-end", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: range-missing-end}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {range: {start: 80}}}}]}]
`,
		errs: []string{
			"spec.ingress[0].protocols[0].tcp.destinationPort.range.end: Required value",
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "range-start-zero", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: range-start-zero}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Deny, from: [{namespaces: {}}], protocols: [{tcp: {destinationPort: {range: {start: 0, end: 80}}}}]}]
`,
		errs: []string{
			"spec.ingress[0].protocols[0].tcp.destinationPort.range.start: Invalid value: 0: spec.ingress[0].protocols[0].tcp.destinationPort.range.start in body should be greater than or equal to 1",
		},
	},
	{
		name: "named-port-with-networks", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: named-port-with-networks}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{networks: ["10.0.0.0/8"]}], protocols: [{destinationNamedPort: http}]}]
`,
		errs: []string{
			"spec.egress[0]: Invalid value: networks/nodes/domainNames peer cannot be set with namedPorts since there are no namedPorts for networks/nodes/domainNames",
		},
	},
	{
		name: "named-port-with-nodes", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: named-port-with-nodes}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{namespaces: {}}, {nodes: {}}], protocols: [{destinationNamedPort: http}]}]
`,
		errs: []string{
			"spec.egress[0]: Invalid value: networks/nodes/domainNames peer cannot be set with namedPorts since there are no namedPorts for networks/nodes/domainNames",
		},
	},
	{
		name: "too-many-ingress", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: too-many-ingress}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress:
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Deny, from: [{namespaces: {}}]}
`,
		errs: []string{
			"spec.ingress: Too many: 26: must have at most 25 items",
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "name-invalid", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: "Bad_Name"}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
`,
		errs: []string{
			`metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
		},
	},
	{
		name: "name-missing", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {labels: {a: b}}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
`,
		errs: []string{
			"metadata.name: Required value: name or generateName is required",
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "spec-missing", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: spec-missing}
`,
		errs: []string{
			"spec: Required value",
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
	{
		name: "standard-domain-names", channel: ChannelStandard,
		doc: `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: standard-domain-names}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Accept, to: [{domainNames: ["example.com"]}]}]
`,
		errs: []string{
			"spec.egress[0].to[0]: Invalid value: 0: spec.egress[0].to[0] in body should have at least 1 properties",
		},
		warnings: []string{`unknown field "spec.egress[0].to[0].domainNames"`},
	},
	{
		name: "standard-named-port", channel: ChannelStandard,
		doc: `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: standard-named-port}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: [{action: Accept, from: [{namespaces: {}}], protocols: [{destinationNamedPort: http}]}]
`,
		errs: []string{
			"spec.ingress[0].protocols[0]: Invalid value: 0: spec.ingress[0].protocols[0] in body should have at least 1 properties",
		},
		warnings: []string{`unknown field "spec.ingress[0].protocols[0].destinationNamedPort"`},
	},
	{
		name: "standard-nodes", channel: ChannelStandard,
		doc: `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: standard-nodes}
spec:
  tier: Baseline
  priority: 1
  subject: {namespaces: {}}
  egress: [{action: Deny, to: [{nodes: {}}]}]
`,
		errs: []string{
			"spec.egress[0].to[0]: Invalid value: 0: spec.egress[0].to[0] in body should have at least 1 properties",
		},
		warnings: []string{`unknown field "spec.egress[0].to[0].nodes"`},
	},
	{
		name: "v1alpha2-range", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: v1alpha2-range}
spec:
  tier: Baseline
  priority: 5
  subject: {pods: {podSelector: {}}}
  egress: [{action: Deny, to: [{pods: {podSelector: {}}}], protocols: [{tcp: {destinationPort: {range: {start: 9, end: 8}}}}]}]
`,
		errs: []string{
			"spec.egress[0].protocols[0].tcp.destinationPort.range: Invalid value: Start port must be less than End port",
		},
	},
	{
		name: "wrong-kind-field-type", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: wrong-kind-field-type}
spec:
  tier: Admin
  priority: 1
  subject: {namespaces: {}}
  ingress: {action: Deny}
`,
		errs: []string{
			`spec.ingress: Invalid value: "object": spec.ingress in body must be of type array: "object"`,
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
		warnings: []string{`unknown field "spec.ingress.action"`},
	},
	{
		name: "status-ignored-but-spec-bad", channel: ChannelExperimental,
		doc: `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: status-ignored-but-spec-bad}
spec:
  tier: Admin
  priority: 1.5
  subject: {namespaces: {}}
`,
		errs: []string{
			`spec.priority: Invalid value: "float64": spec.priority in body must be of type int32: "float64"`,
			`<nil>: Invalid value: "": Checked value must be of type integer with format int32 in spec.priority`,
			"<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation",
		},
	},
}

func TestValidateClusterNetworkPolicyInvalid(t *testing.T) {
	if len(invalidClusterNetworkPolicies) < 30 {
		t.Fatalf("only %d cases", len(invalidClusterNetworkPolicies))
	}
	for _, tc := range invalidClusterNetworkPolicies {
		t.Run(tc.name, func(t *testing.T) {
			res := ValidateClusterNetworkPolicy(decodeYAML(t, tc.doc), tc.channel)
			var got []string
			for _, e := range res.Errs {
				got = append(got, e.Error())
			}
			if !slices.Equal(got, tc.errs) {
				t.Errorf("errors:\n got %q\nwant %q", got, tc.errs)
			}
			if !slices.Equal(res.Warnings, tc.warnings) {
				t.Errorf("warnings:\n got %q\nwant %q", res.Warnings, tc.warnings)
			}
			if res.Obj != nil {
				t.Errorf("an invalid object was returned as stored")
			}
		})
	}
}

// moduleDir is network-policy-api's directory in the module cache, where
// its own CRD test data lives; tests that need it skip without it.
func moduleDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/network-policy-api").Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		t.Skipf("network-policy-api not in the module cache: %v", err)
	}
	return dir
}

func TestCRDsMatchModule(t *testing.T) {
	dir := moduleDir(t)
	for _, ch := range []CRDChannel{ChannelStandard, ChannelExperimental} {
		want, err := os.ReadFile(filepath.Join(dir, "config", "crd", string(ch), "policy.networking.k8s.io_clusternetworkpolicies.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(CRDYAML(ch), want) {
			t.Errorf("crd/%s differs from the module's; copy it again", ch)
		}
	}
}

// TestUpstreamCRDTestData runs network-policy-api's own CRD tests
// (pkg/crdtest/testdata, which upstream runs against envtest): valid
// objects are accepted, invalid ones rejected, on both channels, except
// that experimental cases may pass on the standard CRD as upstream allows.
func TestUpstreamCRDTestData(t *testing.T) {
	dir := filepath.Join(moduleDir(t), "pkg", "crdtest", "testdata")
	for _, kind := range []string{"valid", "invalid"} {
		files, err := filepath.Glob(filepath.Join(dir, kind, "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no %s test data: %v", kind, err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range []CRDChannel{ChannelStandard, ChannelExperimental} {
				res := ValidateClusterNetworkPolicy(decodeYAML(t, string(data)), ch)
				experimental := strings.HasSuffix(f, ".experimental.yaml")
				switch {
				case kind == "valid" && len(res.Errs) > 0 && !(experimental && ch == ChannelStandard):
					t.Errorf("%s (%s): rejected: %v", filepath.Base(f), ch, res.Errs)
				case kind == "invalid" && len(res.Errs) == 0 && !(experimental && ch == ChannelStandard):
					t.Errorf("%s (%s): accepted", filepath.Base(f), ch)
				}
			}
		}
	}
}

func TestValidateClusterNetworkPolicyValid(t *testing.T) {
	for name, doc := range map[string]string{
		// The CRD's LabelSelector schema checks neither operators nor label
		// values: the API server stores these (the engine's selector then
		// matches nothing).
		"selector operator": `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: a}
spec: {tier: Admin, priority: 0, subject: {namespaces: {matchExpressions: [{key: a, operator: Near}]}}}`,
		"label value": `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: a}
spec: {tier: Baseline, priority: 1000, subject: {namespaces: {matchLabels: {app: "a b"}}}}`,
		"everything": `apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: everything}
spec:
  tier: Admin
  priority: 3
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}}
  ingress:
  - {name: pass-monitoring, action: Pass, from: [{namespaces: {matchLabels: {team: monitoring}}}]}
  - {action: Deny, from: [{pods: {namespaceSelector: {}, podSelector: {}}}], protocols: [{tcp: {destinationPort: {range: {start: 1, end: 1024}}}}, {destinationNamedPort: db}]}
  egress:
  - {action: Accept, to: [{domainNames: ["*.example.com", "kubernetes.io."]}]}
  - {action: Deny, to: [{networks: ["0.0.0.0/0", "::/0"]}, {nodes: {}}], protocols: [{udp: {destinationPort: {number: 53}}}, {sctp: {destinationPort: {number: 9}}}]}
status: {conditions: []}`,
	} {
		res := ValidateClusterNetworkPolicy(decodeYAML(t, doc), ChannelExperimental)
		if len(res.Errs) > 0 || res.Obj == nil {
			t.Errorf("%s: %v", name, res.Errs)
		}
	}
}

// FuzzValidateClusterNetworkPolicy feeds arbitrary documents through the
// API server's custom-resource path: it must never panic, and whatever it
// accepts must come back as a typed object of the same name.
func FuzzValidateClusterNetworkPolicy(f *testing.F) {
	for _, tc := range invalidClusterNetworkPolicies {
		f.Add(tc.doc, tc.channel == ChannelStandard)
	}
	f.Add("apiVersion: policy.networking.k8s.io/v1beta1\nkind: ClusterNetworkPolicy\nmetadata: {name: a}\nspec: {tier: Admin, priority: 0, subject: {namespaces: {}}}\n", false)
	f.Fuzz(func(t *testing.T, doc string, standard bool) {
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			return
		}
		m := map[string]interface{}{}
		if utiljson.Unmarshal(js, &m) != nil {
			return
		}
		ch := ChannelExperimental
		if standard {
			ch = ChannelStandard
		}
		md, _ := m["metadata"].(map[string]interface{})
		name, _ := md["name"].(string)
		res := ValidateClusterNetworkPolicy(m, ch)
		if len(res.Errs) == 0 && (res.Obj == nil || res.Obj.Name != name) {
			t.Fatalf("accepted without an object of name %q: %+v", name, res.Obj)
		}
	})
}

// BenchmarkValidateClusterNetworkPolicy: one create through the CRD's
// schema and CEL rules (the "everything" object of
// TestValidateClusterNetworkPolicyValid), after the one-time compilation of
// the CRD, which is reported apart as ms-compile (what every process that
// validates CNPs pays once per channel).
func BenchmarkValidateClusterNetworkPolicy(b *testing.B) {
	const doc = `apiVersion: policy.networking.k8s.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: everything}
spec:
  tier: Admin
  priority: 3
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: db}}}}
  ingress:
  - {name: pass-monitoring, action: Pass, from: [{namespaces: {matchLabels: {team: monitoring}}}]}
  - {action: Deny, from: [{pods: {namespaceSelector: {}, podSelector: {}}}], protocols: [{tcp: {destinationPort: {range: {start: 1, end: 1024}}}}, {destinationNamedPort: db}]}
  egress:
  - {action: Deny, to: [{networks: ["0.0.0.0/0", "::/0"]}, {nodes: {}}], protocols: [{udp: {destinationPort: {number: 53}}}, {sctp: {destinationPort: {number: 9}}}]}
`
	obj := decodeYAML(b, doc)
	// What the first validation of a process pays (crdServers caches it).
	start := time.Now()
	if _, err := newCRDServer(experimentalCRD); err != nil {
		b.Fatal(err)
	}
	compile := time.Since(start)
	objs := make([]map[string]interface{}, b.N)
	for i := range objs {
		objs[i] = runtime.DeepCopyJSON(obj)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := ValidateClusterNetworkPolicy(objs[i], ChannelExperimental); len(res.Errs) > 0 {
			b.Fatal(res.Errs)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/object")
	b.ReportMetric(float64(compile.Milliseconds()), "ms-compile")
}
