package policy

import corev1 "k8s.io/api/core/v1"

// ProtocolOrTCP is a port's protocol as the API server defaults it: TCP
// when none is given.
func ProtocolOrTCP(p corev1.Protocol) corev1.Protocol { return protocolOrTCP(p) }
