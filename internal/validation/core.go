package validation

// The core kinds are validated only as far as Palisade reads them: what
// decides which names, labels and ports a policy can match. Each function is
// a subset of upstream's, in upstream's order, with upstream's messages; an
// object it accepts may still be rejected by a real API server for a field
// Palisade ignores.

import (
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/operation"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

// Upstream lists supported values from a sorted set, hence these orders.
var (
	supportedPortProtocols  = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}
	supportedServiceTypes   = []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeExternalName, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort}
	supportedIPFamilies     = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	supportedIPFamilyPolicy = []corev1.IPFamilyPolicy{corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack, corev1.IPFamilyPolicySingleStack}
)

// ValidateNamespace validates a Namespace for create: ObjectMeta
// (cluster-scoped), name a DNS-1123 label, spec.finalizers. As on the API
// server, a metadata.namespace is dropped rather than reported, and the
// kubernetes.io/metadata.name label that defaulting adds is validated too
// (so a name too long for a label value fails as a label as well). A subset of
// upstream ValidateNamespace and its create path. ns is not modified.
func ValidateNamespace(ns *corev1.Namespace) field.ErrorList {
	metaPath := field.NewPath("metadata")
	meta := ns.ObjectMeta
	meta.Namespace = ""
	if meta.Name != "" {
		labels := make(map[string]string, len(meta.Labels)+1)
		maps.Copy(labels, meta.Labels)
		labels[corev1.LabelMetadataName] = meta.Name
		meta.Labels = labels
	}
	errs := validateObjectMeta(&meta, false, apimachineryvalidation.ValidateNamespaceName, metaPath)
	for _, f := range ns.Spec.Finalizers {
		// Upstream reports these on the list, without an index.
		fld := field.NewPath("spec", "finalizers")
		errs = append(errs, apimachineryvalidation.ValidateFinalizerName(string(f), fld)...)
		errs = append(errs, validateKubeFinalizerName(string(f), fld)...)
	}
	if len(errs) == 0 {
		errs = validateGenericMeta(&meta, false, metaPath)
	}
	return mergeDeclarative(errs, declarativeMeta(operation.Create, &meta, nil, metaPath))
}

// ValidatePodMeta validates a Pod for create: its ObjectMeta (namespace
// required, name a DNS subdomain, labels, annotations) and the ports of its
// containers and init containers (containerPort and hostPort range, name an
// IANA_SVC_NAME unique within the container, protocol TCP/UDP/SCTP, host
// ports unique, hostPort = containerPort on the host network). fld is where
// the pod's spec is, normally "spec"; nil means that. Ports are defaulted
// first, as decoding would: protocol TCP, and on the host network hostPort
// from containerPort. A subset of upstream ValidatePodCreate. pod is not
// modified.
func ValidatePodMeta(pod *corev1.Pod, fld *field.Path) field.ErrorList {
	if fld == nil {
		fld = field.NewPath("spec")
	}
	metaPath := field.NewPath("metadata")
	// PrepareForCreate owns the generation, so a client's value never counts.
	meta := pod.ObjectMeta
	meta.Generation = 1
	spec := pod.Spec.DeepCopy()
	defaultContainerPorts(spec.Containers, spec.HostNetwork)
	defaultContainerPorts(spec.InitContainers, spec.HostNetwork)
	errs := validateObjectMeta(&meta, true, apimachineryvalidation.NameIsDNSSubdomain, metaPath)
	errs = append(errs, validatePodSpecPorts(spec, true, fld)...)
	if len(errs) == 0 {
		errs = validateGenericMeta(&meta, true, metaPath)
	}
	return mergeDeclarative(errs, declarativeMeta(operation.Create, &meta, nil, metaPath))
}

// ValidatePodTemplateMeta validates a pod template embedded at fld (e.g.
// spec.template of a Deployment) as upstream ValidatePodTemplateSpec does:
// labels and annotations are reported at fld.labels and fld.annotations (not
// fld.metadata.*), container ports under fld.spec. A template has no name or
// namespace of its own, and its host ports are not defaulted. The result is
// a fragment of the owning object's errors; a subset of upstream.
func ValidatePodTemplateMeta(tmpl *corev1.PodTemplateSpec, fld *field.Path) field.ErrorList {
	spec := tmpl.Spec.DeepCopy()
	defaultContainerPorts(spec.Containers, false)
	defaultContainerPorts(spec.InitContainers, false)
	errs := validateLabels(tmpl.Labels, fld.Child("labels"))
	errs = append(errs, validateAnnotations(tmpl.Annotations, fld.Child("annotations"))...)
	return append(errs, validatePodSpecPorts(spec, false, fld.Child("spec"))...)
}

func defaultContainerPorts(containers []corev1.Container, hostNetwork bool) {
	for i := range containers {
		for j := range containers[i].Ports {
			p := &containers[i].Ports[j]
			p.Protocol = ProtocolOrTCP(p.Protocol)
			if hostNetwork && p.HostPort == 0 {
				p.HostPort = p.ContainerPort
			}
		}
	}
}

// validatePodSpecPorts follows ValidatePodSpec's order: containers, their
// host ports together, each init container with its own host ports (init
// containers run one at a time), then the host-network rule.
func validatePodSpecPorts(spec *corev1.PodSpec, isPod bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	containersPath := fld.Child("containers")
	for i := range spec.Containers {
		errs = append(errs, validateContainerPorts(spec.Containers[i].Ports, containersPath.Index(i).Child("ports"))...)
	}
	errs = append(errs, hostPortConflicts(spec.Containers, containersPath)...)
	initPath := fld.Child("initContainers")
	for i := range spec.InitContainers {
		errs = append(errs, validateContainerPorts(spec.InitContainers[i].Ports, initPath.Index(i).Child("ports"))...)
		// Upstream checks each init container as a list of one, so the
		// reported index is always 0.
		errs = append(errs, hostPortConflicts(spec.InitContainers[i:i+1], initPath)...)
	}
	if spec.HostNetwork {
		for i, c := range spec.Containers {
			for j, port := range c.Ports {
				// A template may leave hostPort for the pod's defaulting.
				if (isPod || port.HostPort != 0) && port.HostPort != port.ContainerPort {
					errs = append(errs, field.Invalid(containersPath.Index(i).Child("ports").Index(j).Child("hostPort"), port.HostPort, "must match `containerPort` when `hostNetwork` is true"))
				}
			}
		}
	}
	return errs
}

func hostPortConflicts(containers []corev1.Container, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, c := range containers {
		for j, port := range c.Ports {
			if port.HostPort == 0 {
				continue
			}
			key := fmt.Sprintf("%s/%s/%d", port.Protocol, port.HostIP, port.HostPort)
			if seen[key] {
				errs = append(errs, field.Duplicate(fld.Index(i).Child("ports").Index(j).Child("hostPort"), key))
			}
			seen[key] = true
		}
	}
	return errs
}

func validateContainerPorts(ports []corev1.ContainerPort, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for i, port := range ports {
		idxPath := fld.Index(i)
		if port.Name != "" {
			if msgs := utilvalidation.IsValidPortName(port.Name); len(msgs) != 0 {
				for _, msg := range msgs {
					errs = append(errs, field.Invalid(idxPath.Child("name"), port.Name, msg))
				}
			} else if names[port.Name] {
				errs = append(errs, field.Duplicate(idxPath.Child("name"), port.Name))
			} else {
				names[port.Name] = true
			}
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(idxPath.Child("containerPort"), ""))
		} else {
			for _, msg := range utilvalidation.IsValidPortNum(int(port.ContainerPort)) {
				errs = append(errs, field.Invalid(idxPath.Child("containerPort"), port.ContainerPort, msg))
			}
		}
		if port.HostPort != 0 {
			for _, msg := range utilvalidation.IsValidPortNum(int(port.HostPort)) {
				errs = append(errs, field.Invalid(idxPath.Child("hostPort"), port.HostPort, msg))
			}
		}
		if port.Protocol == "" {
			errs = append(errs, field.Required(idxPath.Child("protocol"), ""))
		} else if !isPortProtocol(port.Protocol) {
			errs = append(errs, field.NotSupported(idxPath.Child("protocol"), port.Protocol, supportedPortProtocols))
		}
	}
	return errs
}

func isPortProtocol(p corev1.Protocol) bool {
	return p == corev1.ProtocolTCP || p == corev1.ProtocolUDP || p == corev1.ProtocolSCTP
}

// ValidateService validates a Service for create: ObjectMeta (namespace
// required, name a DNS-1123 label), selector labels, ports (port range,
// protocol, targetPort number or name, name required when there is more than
// one port, duplicate names, duplicate port/protocol pairs, nodePort on a
// ClusterIP service), type, externalName, and the format of clusterIP(s),
// ipFamilies and ipFamilyPolicy. Defaults are applied to a copy first
// (protocol TCP, targetPort = port, type ClusterIP), as decoding would.
//
// As upstream, malformed cluster IP fields are reported alone: the API
// server checks them while allocating IPs, before it validates anything
// else. A subset of upstream ValidateServiceCreate and its create path;
// ipFamilies against the cluster's configuration, session affinity,
// external IPs, load-balancer and traffic-policy fields are not checked.
// svc is not modified.
func ValidateService(svc *corev1.Service) field.ErrorList {
	s := svc.DeepCopy()
	defaultService(s)
	// normalizeClusterIPs: the singular field stands for the list.
	if s.Spec.ClusterIP != "" && len(s.Spec.ClusterIPs) == 0 {
		s.Spec.ClusterIPs = []string{s.Spec.ClusterIP}
	}
	if s.Spec.Type != corev1.ServiceTypeExternalName {
		if s.Spec.IPFamilyPolicy == nil {
			policy := corev1.IPFamilyPolicySingleStack
			if s.Spec.ClusterIP == corev1.ClusterIPNone && len(s.Spec.Selector) == 0 {
				policy = corev1.IPFamilyPolicyRequireDualStack
			}
			s.Spec.IPFamilyPolicy = &policy
		}
		if errs := validateClusterIPs(s); len(errs) != 0 {
			return errs
		}
	}
	metaPath := field.NewPath("metadata")
	// RelaxedServiceNameValidation is GA in 1.37: a label, not an RFC 1035 label.
	errs := validateObjectMeta(&s.ObjectMeta, true, apimachineryvalidation.NameIsDNSLabel, metaPath)
	errs = append(errs, validateServiceSpec(s)...)
	if len(errs) == 0 {
		errs = validateGenericMeta(&s.ObjectMeta, true, metaPath)
	}
	return mergeDeclarative(errs, declarativeMeta(operation.Create, &s.ObjectMeta, nil, metaPath))
}

// defaultService is the part of v1 SetDefaults_Service that validation
// depends on and that the lab stores.
func defaultService(s *corev1.Service) {
	if s.Spec.Type == "" {
		s.Spec.Type = corev1.ServiceTypeClusterIP
	}
	for i := range s.Spec.Ports {
		DefaultServicePort(&s.Spec.Ports[i])
	}
}

func isHeadlessService(s *corev1.Service) bool {
	return len(s.Spec.ClusterIPs) == 1 && s.Spec.ClusterIPs[0] == corev1.ClusterIPNone
}

// servicePortKey mirrors the internal core.ServicePort, which upstream puts in
// its duplicate-port error: the value renders as JSON with these Go field
// names, in this order.
type servicePortKey struct {
	Name        string
	Protocol    corev1.Protocol
	AppProtocol *string
	Port        int32
	TargetPort  intstr.IntOrString
	NodePort    int32
}

func validateServiceSpec(s *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	portsPath := specPath.Child("ports")
	headless := isHeadlessService(s)

	if len(s.Spec.Ports) == 0 && !headless && s.Spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(portsPath, ""))
	}
	switch s.Spec.Type {
	case corev1.ServiceTypeLoadBalancer:
		if headless {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), s.Spec.ClusterIPs[0], "may not be set to 'None' for LoadBalancer services"))
		}
	case corev1.ServiceTypeNodePort:
		if headless {
			errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), s.Spec.ClusterIPs[0], "may not be set to 'None' for NodePort services"))
		}
	case corev1.ServiceTypeExternalName:
		if len(s.Spec.ClusterIPs) > 0 {
			errs = append(errs, field.Forbidden(specPath.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if len(s.Spec.IPFamilies) > 0 {
			errs = append(errs, field.Forbidden(specPath.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if s.Spec.IPFamilyPolicy != nil {
			errs = append(errs, field.Forbidden(specPath.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		// A trailing dot marks the CNAME fully qualified.
		if cname := strings.TrimSuffix(s.Spec.ExternalName, "."); cname == "" {
			errs = append(errs, field.Required(specPath.Child("externalName"), ""))
		} else {
			for _, msg := range utilvalidation.IsDNS1123Subdomain(cname) {
				errs = append(errs, field.Invalid(specPath.Child("externalName"), cname, msg).WithOrigin("format=k8s-long-name"))
			}
		}
	}

	names := map[string]bool{}
	for i := range s.Spec.Ports {
		errs = append(errs, validateServicePort(&s.Spec.Ports[i], len(s.Spec.Ports) > 1, names, portsPath.Index(i))...)
	}
	if s.Spec.Selector != nil {
		errs = append(errs, validateLabels(s.Spec.Selector, specPath.Child("selector"))...)
	}

	if !isServiceType(s.Spec.Type) {
		errs = append(errs, field.NotSupported(specPath.Child("type"), s.Spec.Type, supportedServiceTypes))
	}
	if s.Spec.Type == corev1.ServiceTypeClusterIP {
		for i := range s.Spec.Ports {
			if s.Spec.Ports[i].NodePort != 0 {
				errs = append(errs, field.Forbidden(portsPath.Index(i).Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			}
		}
	}
	nodePorts := map[servicePortKey]bool{}
	for i, port := range s.Spec.Ports {
		if port.NodePort == 0 {
			continue
		}
		key := servicePortKey{Protocol: port.Protocol, NodePort: port.NodePort}
		if nodePorts[key] {
			errs = append(errs, field.Duplicate(portsPath.Index(i).Child("nodePort"), port.NodePort))
		}
		nodePorts[key] = true
	}
	ports := map[servicePortKey]bool{}
	for i, port := range s.Spec.Ports {
		key := servicePortKey{Protocol: port.Protocol, Port: port.Port}
		if ports[key] {
			errs = append(errs, field.Duplicate(portsPath.Index(i), key))
		}
		ports[key] = true
	}
	return errs
}

func isServiceType(t corev1.ServiceType) bool {
	switch t {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName:
		return true
	}
	return false
}

func validateServicePort(sp *corev1.ServicePort, requireName bool, names map[string]bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if requireName && sp.Name == "" {
		errs = append(errs, field.Required(fld.Child("name"), ""))
	} else if sp.Name != "" {
		for _, msg := range utilvalidation.IsDNS1123Label(sp.Name) {
			errs = append(errs, field.Invalid(fld.Child("name"), sp.Name, msg).WithOrigin("format=k8s-short-name"))
		}
		if names[sp.Name] {
			errs = append(errs, field.Duplicate(fld.Child("name"), sp.Name))
		} else {
			names[sp.Name] = true
		}
	}
	for _, msg := range utilvalidation.IsValidPortNum(int(sp.Port)) {
		errs = append(errs, field.Invalid(fld.Child("port"), sp.Port, msg))
	}
	if !isPortProtocol(sp.Protocol) {
		errs = append(errs, field.NotSupported(fld.Child("protocol"), sp.Protocol, supportedPortProtocols))
	}
	errs = append(errs, validatePortNumOrName(sp.TargetPort, fld.Child("targetPort"))...)
	if sp.AppProtocol != nil {
		for _, msg := range utilvalidation.IsQualifiedName(*sp.AppProtocol) {
			errs = append(errs, field.Invalid(fld.Child("appProtocol"), *sp.AppProtocol, msg).WithOrigin("format=qualified-name"))
		}
	}
	return errs
}

func validatePortNumOrName(port intstr.IntOrString, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch port.Type {
	case intstr.Int:
		// An int, not the int32: upstream passes IntValue(), and the rendering
		// of the value depends on its type.
		for _, msg := range utilvalidation.IsValidPortNum(port.IntValue()) {
			errs = append(errs, field.Invalid(fld, port.IntValue(), msg))
		}
	case intstr.String:
		for _, msg := range utilvalidation.IsValidPortName(port.StrVal) {
			errs = append(errs, field.Invalid(fld, port.StrVal, msg))
		}
	default:
		errs = append(errs, field.InternalError(fld, fmt.Errorf("unknown type: %v", port.Type)))
	}
	return errs
}

// validateClusterIPs is upstream ValidateServiceClusterIPsRelatedFields for a
// create, which the IP allocator runs before anything else is validated.
func validateClusterIPs(s *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	clusterIPsPath := specPath.Child("clusterIPs")
	ipFamiliesPath := specPath.Child("ipFamilies")

	if s.Spec.ClusterIP != "" {
		if len(s.Spec.ClusterIPs) == 0 {
			errs = append(errs, field.Required(clusterIPsPath, ""))
		} else if s.Spec.ClusterIPs[0] != s.Spec.ClusterIP {
			errs = append(errs, field.Invalid(clusterIPsPath, s.Spec.ClusterIPs, "first value must match `clusterIP`"))
		}
	} else if len(s.Spec.ClusterIPs) != 0 {
		errs = append(errs, field.Invalid(clusterIPsPath, s.Spec.ClusterIPs, "must be empty when `clusterIP` is not specified"))
	}

	seen := map[corev1.IPFamily]bool{}
	for i, family := range s.Spec.IPFamilies {
		if family != corev1.IPv4Protocol && family != corev1.IPv6Protocol {
			errs = append(errs, field.NotSupported(ipFamiliesPath.Index(i), family, supportedIPFamilies))
		}
		if seen[family] {
			errs = append(errs, field.Duplicate(ipFamiliesPath.Index(i), family))
		}
		seen[family] = true
	}
	if p := s.Spec.IPFamilyPolicy; p != nil && *p != corev1.IPFamilyPolicySingleStack && *p != corev1.IPFamilyPolicyPreferDualStack && *p != corev1.IPFamilyPolicyRequireDualStack {
		// The pointer is what upstream reports.
		errs = append(errs, field.NotSupported(specPath.Child("ipFamilyPolicy"), p, supportedIPFamilyPolicy))
	}

	invalid := false
	for i, ip := range s.Spec.ClusterIPs {
		if i == 0 && ip == corev1.ClusterIPNone {
			if len(s.Spec.ClusterIPs) > 1 {
				invalid = true
				errs = append(errs, field.Invalid(clusterIPsPath, s.Spec.ClusterIPs, "'None' must be the first and only value"))
			}
			continue
		}
		ipErrs := utilvalidation.IsValidIPForLegacyField(clusterIPsPath.Index(i), ip, strictIPCIDRValidation, nil)
		invalid = invalid || len(ipErrs) != 0
		errs = append(errs, ipErrs...)
	}
	if len(s.Spec.ClusterIPs) > 2 {
		errs = append(errs, field.Invalid(clusterIPsPath, s.Spec.ClusterIPs, "may only hold up to 2 values"))
	}
	// Family checks on malformed addresses would only add noise.
	if invalid {
		return errs
	}
	if len(s.Spec.ClusterIPs) > 1 {
		dualStack, err := netutils.IsDualStackIPStrings(s.Spec.ClusterIPs)
		if err != nil {
			errs = append(errs, field.InternalError(clusterIPsPath, fmt.Errorf("failed to check for dual stack with error:%v", err)))
		}
		if !dualStack {
			errs = append(errs, field.Invalid(clusterIPsPath, s.Spec.ClusterIPs, "may specify no more than one IP for each IP family"))
		}
	}
	if !isHeadlessService(s) && len(s.Spec.ClusterIPs) > 0 && len(s.Spec.IPFamilies) > 0 {
		for i, ip := range s.Spec.ClusterIPs {
			if i > len(s.Spec.IPFamilies)-1 {
				break
			}
			if s.Spec.IPFamilies[i] == corev1.IPv4Protocol && netutils.IsIPv6String(ip) {
				errs = append(errs, field.Invalid(clusterIPsPath.Index(i), ip, fmt.Sprintf("expected an IPv4 value as indicated by `ipFamilies[%v]`", i)))
			}
			if s.Spec.IPFamilies[i] == corev1.IPv6Protocol && !netutils.IsIPv6String(ip) {
				errs = append(errs, field.Invalid(clusterIPsPath.Index(i), ip, fmt.Sprintf("expected an IPv6 value as indicated by `ipFamilies[%v]`", i)))
			}
		}
	}
	return errs
}
