package dataplane

import (
	"strings"

	"github.com/palisade-net/palisade/internal/policy"
)

// The data plane's wire format: what its rules write that other code
// reads back (log prefixes, counter sets) or must agree on (the
// masquerade mark). Each has its writer and its reader here, so that they
// cannot drift apart.

// MasqueradeMark is the packet mark that asks a service table's
// postrouting to masquerade a connection (a pod reaching itself through
// its service). It is kube-proxy's value. Only service tables set and read
// it; the policy table trusts no mark (see hairpinSet).
const MasqueradeMark = "0x4000"

// Reasons a deny rule logs.
const (
	// ReasonPolicy: the policies isolating a pod do not admit the
	// connection.
	ReasonPolicy = "policy"
	// ReasonUnsynced: an address of the pod ranges that no enforced pod
	// owns yet (Options.FailClosed).
	ReasonUnsynced = "unsynced"
)

const logPrefix = "palisade "

// LogPrefix is the NFLOG prefix of a deny rule: `palisade <direction>
// deny `, or `palisade unsynced <direction> deny ` for ReasonUnsynced.
func LogPrefix(dir policy.Direction, reason string) string {
	p := logPrefix
	if reason == ReasonUnsynced {
		p += ReasonUnsynced + " "
	}
	return p + strings.ToLower(dir.String()) + " deny "
}

// ParseLogPrefix reads direction and reason back from a prefix LogPrefix
// wrote; ok is false for any other prefix.
func ParseLogPrefix(prefix string) (dir policy.Direction, reason string, ok bool) {
	rest, ok := strings.CutPrefix(prefix, logPrefix)
	if !ok {
		return 0, "", false
	}
	reason = ReasonPolicy
	if r, ok := strings.CutPrefix(rest, ReasonUnsynced+" "); ok {
		reason, rest = ReasonUnsynced, r
	}
	switch rest {
	case "ingress deny ":
		return policy.Ingress, reason, true
	case "egress deny ":
		return policy.Egress, reason, true
	}
	return 0, "", false
}

// CounterSet names the dynamic set that counts, per pod address, the
// packets that opened (allowed) or tried to open (denied) connections in
// one direction and address family.
func CounterSet(denied bool, dir policy.Direction, ipv6 bool) string {
	s := "allowed-"
	if denied {
		s = "denied-"
	}
	s += strings.ToLower(dir.String())
	if ipv6 {
		return s + "6"
	}
	return s + "4"
}

// CounterSets are all the counter sets a policy table has.
var CounterSets = counterSets()

func counterSets() []string {
	var out []string
	for _, dir := range []policy.Direction{policy.Ingress, policy.Egress} {
		for _, denied := range []bool{false, true} {
			for _, v6 := range []bool{false, true} {
				out = append(out, CounterSet(denied, dir, v6))
			}
		}
	}
	return out
}
