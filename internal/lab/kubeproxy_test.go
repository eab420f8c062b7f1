package lab

import (
	"slices"
	"strings"
	"testing"

	"github.com/palisade-net/palisade/internal/lab/state"
)

// TestKubeProxyFlags: --kube-proxy is checked before anything starts, and
// kube-proxy on a lab node is told to leave the machine-wide conntrack
// settings alone and to bind the node's loopback only.
func TestKubeProxyFlags(t *testing.T) {
	for _, tc := range []struct {
		mode      string
		apiServer bool
		want, err string
	}{
		{"", false, "", ""},
		{"lab", false, "", ""},
		{"nftables", true, "nftables", ""},
		{"nftables", false, "", "needs --apiserver"},
		{"ipvs", true, "", "must be lab, nftables or iptables"},
	} {
		got, err := checkKubeProxy(tc.mode, tc.apiServer)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("checkKubeProxy(%q, %v) = %q, %v; want %q, %q", tc.mode, tc.apiServer, got, err, tc.want, tc.err)
		}
	}
	n := planNodes("t", 1)[0]
	args := kubeProxyArgs(state.Config{IPFamily: "dual", KubeProxyMasqueradeAll: true}, n, "nftables", "/lab/kc")
	s := strings.Join(args, " ")
	for _, want := range []string{"--proxy-mode nftables", "--hostname-override node-1", "--conntrack-max-per-core 0", "--conntrack-min 0",
		"--conntrack-tcp-timeout-established 0", "--conntrack-tcp-timeout-close-wait 0", "--healthz-bind-address 127.0.0.1:", "--metrics-bind-address 127.0.0.1:",
		"--cluster-cidr 10.244.0.0/16,fd00:10:244::/48"} {
		if !strings.Contains(s, want) {
			t.Errorf("kube-proxy args lack %q: %s", want, s)
		}
	}
	if !slices.Contains(args, "--masquerade-all") {
		t.Errorf("no --masquerade-all: %s", s)
	}
}
