package dataplane

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/palisade-net/palisade/internal/policy"
)

func TestLogPrefixRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		dir    policy.Direction
		reason string
		want   string
	}{
		{policy.Ingress, ReasonPolicy, "palisade ingress deny "},
		{policy.Egress, ReasonPolicy, "palisade egress deny "},
		{policy.Ingress, ReasonUnsynced, "palisade unsynced ingress deny "},
		{policy.Egress, ReasonUnsynced, "palisade unsynced egress deny "},
	} {
		got := LogPrefix(tc.dir, tc.reason)
		if got != tc.want {
			t.Errorf("LogPrefix(%v, %s) = %q, want %q", tc.dir, tc.reason, got, tc.want)
		}
		dir, reason, ok := ParseLogPrefix(got)
		if !ok || dir != tc.dir || reason != tc.reason {
			t.Errorf("ParseLogPrefix(%q) = %v %s %v", got, dir, reason, ok)
		}
	}
	for _, bad := range []string{"", "palisade ", "palisade ingress deny", "palt nflog 1 ", "palisade unsynced deny ", "palisade sideways deny "} {
		if _, _, ok := ParseLogPrefix(bad); ok {
			t.Errorf("ParseLogPrefix(%q) accepted", bad)
		}
	}
}

// FuzzParseLogPrefix: whatever the kernel hands back, a prefix is read
// only if it is exactly one LogPrefix writes.
func FuzzParseLogPrefix(f *testing.F) {
	f.Add("palisade ingress deny ")
	f.Add("palisade unsynced egress deny ")
	f.Add("palisade x")
	f.Fuzz(func(t *testing.T, s string) {
		dir, reason, ok := ParseLogPrefix(s)
		if ok && LogPrefix(dir, reason) != s {
			t.Errorf("ParseLogPrefix(%q) = %v %s, which LogPrefix writes as %q", s, dir, reason, LogPrefix(dir, reason))
		}
	})
}

// TestCounterSets: the names the packet path counts in are the ones the
// readers (the agent, PodCounters, ForgetCounters) ask for.
func TestCounterSets(t *testing.T) {
	want := map[string]bool{"allowed-ingress4": true, "allowed-ingress6": true, "denied-ingress4": true, "denied-ingress6": true,
		"allowed-egress4": true, "allowed-egress6": true, "denied-egress4": true, "denied-egress6": true}
	if len(CounterSets) != len(want) {
		t.Fatalf("CounterSets = %v", CounterSets)
	}
	for _, s := range CounterSets {
		if !want[s] {
			t.Errorf("unexpected counter set %q", s)
		}
	}
	script, _ := DryRun(engine(t, webPolicy), Options{})
	for s := range want {
		if !strings.Contains(script, "add set inet palisade-policy "+s+" {") {
			t.Errorf("the table does not declare %s:\n%s", s, script)
		}
	}
}

// TestRuleText: the rules a sync writes, with and without logging and in
// audit mode, read as nft prints them back: words one space apart.
func TestRuleText(t *testing.T) {
	cidrs := []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16"), netip.MustParsePrefix("fd00:10:244::/48")}
	for _, o := range []Options{{}, {LogGroup: 7}, {Audit: true, PodCIDRs: cidrs, FailClosed: true}, {LogGroup: 7, PodCIDRs: cidrs, FailClosed: true}} {
		script, _ := DryRun(engine(t, webPolicy), o)
		for _, line := range strings.Split(script, "\n") {
			if strings.HasPrefix(line, "add rule") && (strings.Contains(line, "  ") || strings.HasSuffix(line, " ")) {
				t.Errorf("%+v: rule %q", o, line)
			}
		}
		for _, want := range map[bool][]string{
			false: {"counter drop"},
			true:  {`counter log prefix "palisade ingress deny " group 7 drop`},
		}[o.LogGroup != 0] {
			if !o.Audit && !strings.Contains(script, want) {
				t.Errorf("%+v: no %q in\n%s", o, want, script)
			}
		}
		if o.FailClosed && o.LogGroup != 0 && !strings.Contains(script, `ip saddr { 10.244.0.0/16 } ip saddr != @local-pods4 update @denied-egress4 { ip saddr counter } counter log prefix "palisade unsynced egress deny " group 7 drop`) {
			t.Errorf("%+v: unsynced rule missing:\n%s", o, script)
		}
	}
}
