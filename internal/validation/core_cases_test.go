package validation

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type namespaceCase struct {
	name string
	ns   *corev1.Namespace
	want []wantErr
}

type podCase struct {
	name string
	pod  *corev1.Pod
	want []wantErr
}

type serviceCase struct {
	name string
	svc  *corev1.Service
	want []wantErr
}

func namespaceCases() []namespaceCase {
	ns := func(name string, tweaks ...func(*corev1.Namespace)) *corev1.Namespace {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		for _, fn := range tweaks {
			fn(n)
		}
		return n
	}
	long := strings.Repeat("a", 64)
	return []namespaceCase{
		{name: "valid", ns: ns("prod")},
		{name: "leading digit", ns: ns("1abc")},
		{name: "namespace is dropped", ns: ns("prod", func(n *corev1.Namespace) { n.Namespace = "other" })},
		{
			name: "not a DNS label",
			ns:   ns("Foo_Bar"),
			want: []wantErr{invalid("metadata.name", `metadata.name: Invalid value: "Foo_Bar": `+dns1123LabelRule)},
		},
		{
			name: "dots",
			ns:   ns("a.b"),
			want: []wantErr{invalid("metadata.name", `metadata.name: Invalid value: "a.b": must not contain dots`)},
		},
		{
			name: "too long, for the name and for its label",
			ns:   ns(long),
			want: []wantErr{
				invalid("metadata.name", `metadata.name: Invalid value: "`+long+`": must be no more than 63 characters`),
				invalid("metadata.labels", `metadata.labels: Invalid value: "`+long+`": must be no more than 63 bytes`),
			},
		},
		{
			name: "missing name",
			ns:   ns(""),
			want: []wantErr{required("metadata.name", "metadata.name: Required value: name or generateName is required")},
		},
		{
			name: "labels and finalizers",
			ns: ns("prod", func(n *corev1.Namespace) {
				n.Labels = map[string]string{"x y": "z", "team": "net"}
				n.Finalizers = []string{"foo"}
				n.Spec.Finalizers = []corev1.FinalizerName{"bar", "a/b/c", "kubernetes", "example.com/x"}
			}),
			want: []wantErr{
				invalid("metadata.labels", `metadata.labels: Invalid value: "x y": `+labelNameRule),
				invalid("metadata.finalizers[0]", `metadata.finalizers[0]: Invalid value: "foo": name is neither a standard finalizer name nor is it fully qualified`),
				invalid("spec.finalizers", `spec.finalizers: Invalid value: "bar": name is neither a standard finalizer name nor is it fully qualified`),
				invalid("spec.finalizers", `spec.finalizers: Invalid value: "a/b/c": a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`),
			},
		},
	}
}

func podCases() []podCase {
	pod := func(name, ns string, ports ...corev1.ContainerPort) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i", Ports: ports}}},
		}
	}
	return []podCase{
		{name: "valid", pod: pod("web-0", "default", corev1.ContainerPort{ContainerPort: 80, Name: "http"}, corev1.ContainerPort{ContainerPort: 53, Protocol: "UDP", Name: "dns"})},
		{name: "name with dots", pod: pod("web.v1", "default")},
		{
			name: "metadata",
			pod: func() *corev1.Pod {
				p := pod("P_1", "", corev1.ContainerPort{ContainerPort: 80})
				p.Labels = map[string]string{"a b": "c"}
				return p
			}(),
			want: []wantErr{
				invalid("metadata.name", `metadata.name: Invalid value: "P_1": `+dns1123SubdomainRule),
				required("metadata.namespace", "metadata.namespace: Required value"),
				invalid("metadata.labels", `metadata.labels: Invalid value: "a b": `+labelNameRule),
			},
		},
		{
			name: "container ports",
			pod: func() *corev1.Pod {
				p := pod("p", "default",
					corev1.ContainerPort{ContainerPort: 0, Name: "http"},
					corev1.ContainerPort{ContainerPort: 70000, Name: "http"},
					corev1.ContainerPort{ContainerPort: 80, Name: "HTTP", Protocol: "ICMP", HostPort: 70000},
					corev1.ContainerPort{ContainerPort: 81, Name: "toolongportname1"},
					corev1.ContainerPort{ContainerPort: 82, Name: "http"},
					corev1.ContainerPort{ContainerPort: 83, Name: "a--b"},
				)
				p.Spec.InitContainers = []corev1.Container{{Name: "i", Image: "i", Ports: []corev1.ContainerPort{{ContainerPort: -1, Protocol: "udp", Name: "http"}}}}
				return p
			}(),
			want: []wantErr{
				required("spec.containers[0].ports[0].containerPort", "spec.containers[0].ports[0].containerPort: Required value"),
				duplicate("spec.containers[0].ports[1].name", `spec.containers[0].ports[1].name: Duplicate value: "http"`),
				invalid("spec.containers[0].ports[1].containerPort", "spec.containers[0].ports[1].containerPort: Invalid value: 70000: "+portRangeRule),
				invalid("spec.containers[0].ports[2].name", `spec.containers[0].ports[2].name: Invalid value: "HTTP": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`),
				invalid("spec.containers[0].ports[2].name", `spec.containers[0].ports[2].name: Invalid value: "HTTP": must contain at least one letter (a-z)`),
				invalid("spec.containers[0].ports[2].hostPort", "spec.containers[0].ports[2].hostPort: Invalid value: 70000: "+portRangeRule),
				notSupported("spec.containers[0].ports[2].protocol", `spec.containers[0].ports[2].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"`),
				invalid("spec.containers[0].ports[3].name", `spec.containers[0].ports[3].name: Invalid value: "toolongportname1": must be no more than 15 characters`),
				duplicate("spec.containers[0].ports[4].name", `spec.containers[0].ports[4].name: Duplicate value: "http"`),
				invalid("spec.containers[0].ports[5].name", `spec.containers[0].ports[5].name: Invalid value: "a--b": must not contain consecutive hyphens`),
				invalid("spec.initContainers[0].ports[0].containerPort", "spec.initContainers[0].ports[0].containerPort: Invalid value: -1: "+portRangeRule),
				notSupported("spec.initContainers[0].ports[0].protocol", `spec.initContainers[0].ports[0].protocol: Unsupported value: "udp": supported values: "SCTP", "TCP", "UDP"`),
			},
		},
		{
			name: "host ports are unique per pod, and per init container",
			pod: func() *corev1.Pod {
				p := pod("p", "default", corev1.ContainerPort{ContainerPort: 80, HostPort: 8080}, corev1.ContainerPort{ContainerPort: 81, HostPort: 8080, Protocol: "UDP"})
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "d", Image: "i", Ports: []corev1.ContainerPort{
					{ContainerPort: 82, HostPort: 8080},
					{ContainerPort: 83, HostPort: 8080, HostIP: "10.0.0.1"},
				}})
				p.Spec.InitContainers = []corev1.Container{
					{Name: "i", Image: "i", Ports: []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}},
					{Name: "j", Image: "i", Ports: []corev1.ContainerPort{{ContainerPort: 80, HostPort: 9000}, {ContainerPort: 81, HostPort: 9000}}},
				}
				return p
			}(),
			want: []wantErr{
				duplicate("spec.containers[1].ports[0].hostPort", `spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"`),
				// Upstream checks each init container alone, at index 0.
				duplicate("spec.initContainers[0].ports[1].hostPort", `spec.initContainers[0].ports[1].hostPort: Duplicate value: "TCP//9000"`),
			},
		},
		{
			name: "host network",
			pod: func() *corev1.Pod {
				p := pod("p", "default", corev1.ContainerPort{ContainerPort: 80}, corev1.ContainerPort{ContainerPort: 81, HostPort: 82}, corev1.ContainerPort{ContainerPort: 70000})
				p.Spec.HostNetwork = true
				return p
			}(),
			want: []wantErr{
				invalid("spec.containers[0].ports[2].containerPort", "spec.containers[0].ports[2].containerPort: Invalid value: 70000: "+portRangeRule),
				invalid("spec.containers[0].ports[2].hostPort", "spec.containers[0].ports[2].hostPort: Invalid value: 70000: "+portRangeRule),
				invalid("spec.containers[0].ports[1].hostPort", "spec.containers[0].ports[1].hostPort: Invalid value: 82: must match `containerPort` when `hostNetwork` is true"),
			},
		},
		{
			name: "port names are unique per container only",
			pod: func() *corev1.Pod {
				p := pod("p", "default", corev1.ContainerPort{ContainerPort: 80, Name: "http"})
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "d", Image: "i", Ports: []corev1.ContainerPort{{ContainerPort: 81, Name: "http"}}})
				return p
			}(),
		},
	}
}

func serviceCases() []serviceCase {
	svc := func(name string, tweaks ...func(*corev1.ServiceSpec)) *corev1.Service {
		s := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "x"}, Ports: []corev1.ServicePort{{Port: 80}}},
		}
		for _, fn := range tweaks {
			fn(&s.Spec)
		}
		return s
	}
	ports := func(ps ...corev1.ServicePort) func(*corev1.ServiceSpec) {
		return func(s *corev1.ServiceSpec) { s.Ports = ps }
	}
	clusterIPs := func(ip string, ips ...string) func(*corev1.ServiceSpec) {
		return func(s *corev1.ServiceSpec) { s.ClusterIP, s.ClusterIPs = ip, ips }
	}
	appProtocol := "a b"
	policy := corev1.IPFamilyPolicy("Foo")
	return []serviceCase{
		{name: "valid", svc: svc("web", ports(corev1.ServicePort{Port: 2345, TargetPort: intstr.FromInt32(1234)}))},
		{name: "leading digit (RelaxedServiceNameValidation)", svc: svc("1web")},
		{name: "named targetPort", svc: svc("web", ports(corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http")}))},
		{name: "headless without ports", svc: svc("db", clusterIPs("None"), ports())},
		{name: "external name", svc: svc("ext", func(s *corev1.ServiceSpec) {
			s.Type, s.ExternalName, s.Ports, s.Selector = corev1.ServiceTypeExternalName, "foo.example.com.", nil, nil
		})},
		{
			name: "metadata, selector and missing ports",
			svc:  svc("Web", ports(), func(s *corev1.ServiceSpec) { s.Selector = map[string]string{"a b": "c"} }),
			want: []wantErr{
				invalid("metadata.name", `metadata.name: Invalid value: "Web": `+dns1123LabelRule),
				required("spec.ports", "spec.ports: Required value"),
				invalid("spec.selector", `spec.selector: Invalid value: "a b": `+labelNameRule),
			},
		},
		{
			name: "ports",
			svc: svc("web", ports(
				corev1.ServicePort{Port: 80},
				corev1.ServicePort{Port: 80, Name: "a"},
				corev1.ServicePort{Port: 0, Name: "a", Protocol: "ICMP", TargetPort: intstr.FromString("Bad_Name")},
				corev1.ServicePort{Port: 81, Name: "B", TargetPort: intstr.FromInt32(70000), NodePort: 30000},
				corev1.ServicePort{Port: 82, Name: "c", NodePort: 30000, AppProtocol: &appProtocol},
			)),
			want: []wantErr{
				required("spec.ports[0].name", "spec.ports[0].name: Required value"),
				duplicate("spec.ports[2].name", `spec.ports[2].name: Duplicate value: "a"`),
				invalid("spec.ports[2].port", "spec.ports[2].port: Invalid value: 0: "+portRangeRule),
				notSupported("spec.ports[2].protocol", `spec.ports[2].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"`),
				invalid("spec.ports[2].targetPort", `spec.ports[2].targetPort: Invalid value: "Bad_Name": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`),
				invalid("spec.ports[3].name", `spec.ports[3].name: Invalid value: "B": `+dns1123LabelRule),
				invalid("spec.ports[3].targetPort", "spec.ports[3].targetPort: Invalid value: 70000: "+portRangeRule),
				invalid("spec.ports[4].appProtocol", `spec.ports[4].appProtocol: Invalid value: "a b": `+labelNameRule),
				forbidden("spec.ports[3].nodePort", "spec.ports[3].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"),
				forbidden("spec.ports[4].nodePort", "spec.ports[4].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"),
				duplicate("spec.ports[4].nodePort", "spec.ports[4].nodePort: Duplicate value: 30000"),
				duplicate("spec.ports[1]", `spec.ports[1]: Duplicate value: {"Name":"","Protocol":"TCP","AppProtocol":null,"Port":80,"TargetPort":0,"NodePort":0}`),
			},
		},
		{
			name: "port out of range defaults targetPort out of range too",
			svc:  svc("web", ports(corev1.ServicePort{Port: 70000})),
			want: []wantErr{
				invalid("spec.ports[0].port", "spec.ports[0].port: Invalid value: 70000: "+portRangeRule),
				invalid("spec.ports[0].targetPort", "spec.ports[0].targetPort: Invalid value: 70000: "+portRangeRule),
			},
		},
		{
			name: "malformed clusterIP is reported alone",
			svc:  svc("Web", clusterIPs("10.0.0.300")),
			want: []wantErr{invalid("spec.clusterIPs[0]", `spec.clusterIPs[0]: Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`)},
		},
		{
			name: "cluster IP fields",
			svc: svc("web", clusterIPs("010.0.0.1", "010.0.0.1", "::ffff:1.2.3.4", "fd00::1"), func(s *corev1.ServiceSpec) {
				s.IPFamilies = []corev1.IPFamily{"IPv5", "IPv4", "IPv4"}
				s.IPFamilyPolicy = &policy
			}),
			want: []wantErr{
				notSupported("spec.ipFamilies[0]", `spec.ipFamilies[0]: Unsupported value: "IPv5": supported values: "IPv4", "IPv6"`),
				duplicate("spec.ipFamilies[2]", `spec.ipFamilies[2]: Duplicate value: "IPv4"`),
				notSupported("spec.ipFamilyPolicy", `spec.ipFamilyPolicy: Unsupported value: "Foo": supported values: "PreferDualStack", "RequireDualStack", "SingleStack"`),
				invalid("spec.clusterIPs[0]", `spec.clusterIPs[0]: Invalid value: "010.0.0.1": must not have leading 0s`),
				invalid("spec.clusterIPs[1]", `spec.clusterIPs[1]: Invalid value: "::ffff:1.2.3.4": must not be an IPv4-mapped IPv6 address`),
				invalid("spec.clusterIPs", `spec.clusterIPs: Invalid value: ["010.0.0.1","::ffff:1.2.3.4","fd00::1"]: may only hold up to 2 values`),
			},
		},
		{
			name: "clusterIPs must start with clusterIP",
			svc:  svc("web", clusterIPs("10.0.0.1", "10.0.0.2")),
			want: []wantErr{invalid("spec.clusterIPs", `spec.clusterIPs: Invalid value: ["10.0.0.2"]: first value must match `+"`clusterIP`")},
		},
		{
			name: "clusterIPs without clusterIP",
			svc:  svc("web", clusterIPs("", "10.0.0.2")),
			want: []wantErr{invalid("spec.clusterIPs", `spec.clusterIPs: Invalid value: ["10.0.0.2"]: must be empty when `+"`clusterIP`"+` is not specified`)},
		},
		{
			name: "None with another IP",
			svc:  svc("web", clusterIPs("None", "None", "10.0.0.1")),
			want: []wantErr{invalid("spec.clusterIPs", `spec.clusterIPs: Invalid value: ["None","10.0.0.1"]: 'None' must be the first and only value`)},
		},
		{
			name: "two IPs of one family",
			svc: svc("web", clusterIPs("10.0.0.1", "10.0.0.1", "10.0.0.2"), func(s *corev1.ServiceSpec) {
				s.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
			}),
			want: []wantErr{
				invalid("spec.clusterIPs", `spec.clusterIPs: Invalid value: ["10.0.0.1","10.0.0.2"]: may specify no more than one IP for each IP family`),
				invalid("spec.clusterIPs[0]", `spec.clusterIPs[0]: Invalid value: "10.0.0.1": expected an IPv6 value as indicated by `+"`ipFamilies[0]`"),
			},
		},
		{
			name: "headless NodePort",
			svc:  svc("web", clusterIPs("None"), func(s *corev1.ServiceSpec) { s.Type = corev1.ServiceTypeNodePort }),
			want: []wantErr{invalid("spec.clusterIPs[0]", `spec.clusterIPs[0]: Invalid value: "None": may not be set to 'None' for NodePort services`)},
		},
		{
			name: "external name not a subdomain",
			svc: svc("ext", func(s *corev1.ServiceSpec) {
				s.Type, s.ExternalName, s.Ports = corev1.ServiceTypeExternalName, "Foo_bar", nil
			}),
			want: []wantErr{invalid("spec.externalName", `spec.externalName: Invalid value: "Foo_bar": `+dns1123SubdomainRule)},
		},
		{
			name: "external name missing",
			svc: svc("ext", func(s *corev1.ServiceSpec) {
				s.Type, s.ExternalName, s.Ports = corev1.ServiceTypeExternalName, ".", nil
			}),
			want: []wantErr{required("spec.externalName", "spec.externalName: Required value")},
		},
		{
			name: "unknown type",
			svc:  svc("web", func(s *corev1.ServiceSpec) { s.Type = "Weird" }),
			want: []wantErr{notSupported("spec.type", `spec.type: Unsupported value: "Weird": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`)},
		},
		{
			name: "node ports per protocol",
			svc: svc("web", func(s *corev1.ServiceSpec) { s.Type = corev1.ServiceTypeNodePort }, ports(
				corev1.ServicePort{Port: 80, NodePort: 30000, Name: "a"},
				corev1.ServicePort{Port: 81, NodePort: 30000, Name: "b"},
				corev1.ServicePort{Port: 81, NodePort: 30000, Name: "c", Protocol: corev1.ProtocolUDP},
			)),
			want: []wantErr{duplicate("spec.ports[1].nodePort", "spec.ports[1].nodePort: Duplicate value: 30000")},
		},
	}
}
