package cni

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palisade-net/palisade/internal/lab/plumbing"
)

// TestConfig: the configuration each mode hands its plugin, as a runtime
// would read it from /etc/cni/net.d: host-local keeps its store in the
// lab's directory (never /var/lib/cni), the gateway is the subnet's first
// address, and nothing asks the plugin to masquerade.
func TestConfig(t *testing.T) {
	subnets := []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24"), netip.MustParsePrefix("fd00:10:244:1::/64")}
	for _, tc := range []struct {
		mode, want string
	}{
		{Bridge, `"bridge":"cni0"`},
		{Bridge, `"hairpinMode":true`},
		{Bridge, `"isDefaultGateway":true`},
		{PTP, `"routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0"}]`},
	} {
		b, err := Network{Mode: tc.mode, Subnets: subnets, DataDir: "/lab/cni/node-1"}.Config()
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, want := range []string{tc.want, `"type":"` + tc.mode + `"`, `"dataDir":"/lab/cni/node-1"`, `"ipMasq":false`,
			`"gateway":"10.244.1.1"`, `"gateway":"fd00:10:244:1::1"`, `"capabilities":{"ips":true}`} {
			if !strings.Contains(s, want) {
				t.Errorf("%s config lacks %s:\n%s", tc.mode, want, s)
			}
		}
	}
	for _, n := range []Network{
		{Mode: Routed, Subnets: subnets, DataDir: "/lab"},
		{Mode: "calico", Subnets: subnets, DataDir: "/lab"},
		{Mode: Bridge, Subnets: subnets},
	} {
		if _, err := n.Config(); err == nil {
			t.Errorf("%+v: no error", n)
		}
	}
}

// TestInvocation: a plugin is run as the CNI spec says a runtime runs it
// (the CNI_* variables, the configuration with runtimeConfig on stdin),
// from the node's namespace, which is its host; its result is read, and a
// CNI error it prints becomes the error, with its message.
func TestInvocation(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	dir := t.TempDir()
	record := filepath.Join(dir, "record")
	// A stand-in for the bridge plugin: it records what it was given and
	// where it ran, and answers as the real one does.
	script := fmt.Sprintf(`#!/bin/sh
{ env | grep '^CNI_' | sort; echo "NETNS=$(readlink /proc/self/ns/net)"; cat; echo; } >>%s
if [ "$CNI_CONTAINERID" = fail ]; then
  echo '{"cniVersion":"1.0.0","code":11,"msg":"failed to allocate","details":"range full"}'
  exit 1
fi
echo '{"cniVersion":"1.0.0","interfaces":[{"name":"cni0"},{"name":"veth1234"},{"name":"eth0","sandbox":"'$CNI_NETNS'"}],"ips":[{"address":"10.244.1.7/24","interface":2}]}'
`, record)
	if err := os.WriteFile(filepath.Join(dir, "bridge"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	node := fmt.Sprintf("pltest-%d-cni", os.Getpid())
	if err := plumbing.CreateNetns(node); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = plumbing.DeleteNetns(node) })
	nodeIno, err := plumbing.NetnsInode(plumbing.NetnsPath(node))
	if err != nil {
		t.Fatal(err)
	}
	p := Plugins{Dir: dir}
	n := Network{Mode: Bridge, Subnets: []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24")}, DataDir: filepath.Join(dir, "ipam")}
	a := Attachment{NodeNetns: node, ContainerID: "pod-1", Netns: "/run/netns/pod-1", IfName: "eth0"}
	res, err := p.Add(context.Background(), n, a, []netip.Addr{netip.MustParseAddr("10.244.1.7")})
	if err != nil {
		t.Fatal(err)
	}
	if res.HostVeth != "veth1234" || len(res.IPs) != 1 || res.IPs[0] != netip.MustParsePrefix("10.244.1.7/24") {
		t.Errorf("result %+v", res)
	}
	if err := p.Del(context.Background(), n, a); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{
		"CNI_COMMAND=ADD\nCNI_CONTAINERID=pod-1\nCNI_IFNAME=eth0\nCNI_NETNS=/run/netns/pod-1\nCNI_PATH=" + dir + "\n",
		"CNI_COMMAND=DEL\n",
		fmt.Sprintf("NETNS=net:[%d]", nodeIno),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the plugin saw no %q:\n%s", want, got)
		}
	}
	var add map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(strings.SplitN(got, "]\n", 2)[1], "\n", 2)[0]), &add); err != nil {
		t.Fatalf("stdin of ADD: %v\n%s", err, got)
	}
	if rc, _ := json.Marshal(add["runtimeConfig"]); string(rc) != `{"ips":["10.244.1.7"]}` {
		t.Errorf("runtimeConfig %s", rc)
	}
	// Both runs, ADD and DEL, in the node's namespace and no other.
	if n := strings.Count(got, "\nNETNS="); n != 2 || strings.Count(got, fmt.Sprintf("\nNETNS=net:[%d]\n", nodeIno)) != n {
		t.Errorf("the plugin ran outside the node's namespace (net:[%d]):\n%s", nodeIno, got)
	}

	a.ContainerID = "fail"
	_, err = p.Add(context.Background(), n, a, nil)
	if err == nil || !strings.Contains(err.Error(), "failed to allocate (code 11): range full") {
		t.Errorf("error %v", err)
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	if _, err := (Plugins{Dir: t.TempDir()}).Add(context.Background(), n, a, nil); err == nil || !strings.Contains(err.Error(), "hack/cni.sh build") {
		t.Errorf("missing plugin: %v", err)
	}
}
