package demo

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/lab"
)

func TestShortNames(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"default/allowed-659f75f4c6-sqbzt", "default/target-67c974d68-h5gq8", "default/client"},
			[]string{"allowed", "target", "client"}},
		// Two replicas of one deployment keep their full names.
		{[]string{"default/web-659f75f4c6-aaaaa", "default/web-659f75f4c6-bbbbb"},
			[]string{"web-659f75f4c6-aaaaa", "web-659f75f4c6-bbbbb"}},
		// Several namespaces: the namespace stays.
		{[]string{"x/a-659f75f4c6-aaaaa", "y/a-659f75f4c6-bbbbb"}, []string{"x/a", "y/a"}},
	} {
		if got := shortNames(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("shortNames(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestSideBySideMarksDisagreement(t *testing.T) {
	r := &lab.ProbeResult{
		Matrix: analysis.Matrix{Protocol: "TCP", Port: 80, Pods: []string{"d/a", "d/b"},
			Matrix: [][]bool{{true, true}, {false, true}}},
		Expected: [][]bool{{true, false}, {false, true}},
	}
	var b bytes.Buffer
	if err := SideBySide(&b, r); err != nil {
		t.Fatal(err)
	}
	want := "TCP/80 measured (real connections)    predicted (engine)\n" +
		"FROM \\ TO  a  b                       FROM \\ TO  a  b\n" +
		"a          ✓  ✓!                      a          ✓  ✗\n" +
		"b          ✗  ✓                       b          ✗  ✓\n"
	if !strings.HasPrefix(b.String(), want) {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestMissing(t *testing.T) {
	have := map[string]bool{"nft": true, "curl": true}
	got := Missing(func(p string) bool { return have[p] })
	if len(got) != 2 || got[0].Package != "busybox" || got[1].Package != "netcat-openbsd" {
		t.Errorf("Missing = %v", got)
	}
}
