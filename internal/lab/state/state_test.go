package state

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); !errors.Is(err, ErrNoLab) {
		t.Fatalf("empty dir: %v, want ErrNoLab", err)
	}
	s := New(Config{Name: "t", Nodes: 2, IPFamily: "dual"})
	s.Nodes = []*Node{{Name: "node-1", Index: 1, IPv4: netip.MustParseAddr("172.18.0.11")}}
	s.Pods[Key("x", "a")] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "x", Name: "a", Labels: map[string]string{"app": "a"}}}
	s.Runtime[Key("x", "a")] = &Pod{Netns: "pal-t-p1", IPs: []netip.Addr{netip.MustParseAddr("10.244.1.2")}, Containers: []*Container{{Name: "c", PID: 42}}}
	if err := s.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Serial != 1 || got.Config.Name != "t" || !got.Config.HasV4() || !got.Config.HasV6() {
		t.Errorf("config/serial: %+v", got.Config)
	}
	if p := got.Pods[Key("x", "a")]; p == nil || p.Labels["app"] != "a" {
		t.Errorf("pod lost: %+v", p)
	}
	if rt := got.Runtime[Key("x", "a")]; rt == nil || rt.IPs[0].String() != "10.244.1.2" || rt.Containers[0].PID != 42 {
		t.Errorf("runtime lost: %+v", rt)
	}
	if n := got.Node("node-1"); n == nil || n.IPv4.String() != "172.18.0.11" {
		t.Errorf("node lost")
	}
	// Maps a newer version did not write come back empty, not nil.
	if got.Jobs == nil || got.CronJobs == nil {
		t.Error("maps not initialised")
	}
	// No temporary file is left behind by the atomic write.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".state-") {
			t.Errorf("leftover %s", e.Name())
		}
	}
}

func TestLoadCorrupt(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "is corrupt") {
		t.Errorf("corrupt state: %v", err)
	}
}

func TestIPFamilies(t *testing.T) {
	for fam, want := range map[string][2]bool{"ipv4": {true, false}, "ipv6": {false, true}, "dual": {true, true}} {
		c := Config{IPFamily: fam}
		if c.HasV4() != want[0] || c.HasV6() != want[1] {
			t.Errorf("%s: v4 %v v6 %v", fam, c.HasV4(), c.HasV6())
		}
	}
}
