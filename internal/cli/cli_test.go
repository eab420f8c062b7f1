package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

const (
	netpolDir  = "testdata/netpol"
	example01  = "../../examples/01-restricting-network-connectivity"
	invalidDir = "testdata/invalid"
)

func TestCommands(t *testing.T) {
	tests := []struct {
		name       string
		stdin      string
		args       []string
		code       int
		stdout     string   // exact, when set
		outHas     []string // substrings of stdout
		errHas     []string // substrings of stderr
		stdoutNone bool
	}{
		{name: "validate invalid endPort names file, line, object and the API server's message",
			args:   []string{"validate", "-f", invalidDir},
			code:   1,
			stdout: "testdata/invalid/bad-endport.yaml:11: NetworkPolicy web/bad: spec.ingress[0].ports[0].endPort: Invalid value: 31000: must be greater than or equal to `port`\n"},
		{name: "validate valid example",
			args: []string{"validate", "-f", example01}, code: 0, stdoutNone: true, errHas: []string{"6 objects valid"}},
		{name: "validate from stdin",
			stdin: "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec:\n  podSelector: {}\n  ingress: [{from: [{ipBlock: {cidr: 10.0.0.1/8}}]}]\n",
			args:  []string{"validate", "-f", "-"}, code: 1,
			outHas: []string{"-:6: NetworkPolicy default/p: spec.ingress[0].from[0].ipBlock.cidr: Invalid value: \"10.0.0.1/8\""}},
		{name: "missing file", args: []string{"validate", "-f", "nothere.yaml"}, code: 2,
			errHas: []string{`error: the path "nothere.yaml" does not exist`}, stdoutNone: true},
		{name: "yaml syntax error names file line and column", args: []string{"validate", "-f", "testdata/syntax"}, code: 2,
			errHas: []string{"testdata/syntax/broken.yaml:11:1: "}, stdoutNone: true},
		{name: "wrong apiVersion", args: []string{"matrix", "-f", "testdata/apiversion", "--port", "80"}, code: 2,
			errHas: []string{`testdata/apiversion/old.yaml:1: NetworkPolicy default/old: no matches for kind "NetworkPolicy" in version "extensions/v1beta1"`}, stdoutNone: true},
		{name: "no -f", args: []string{"matrix"}, code: 2, errHas: []string{"must specify one of -f"}},
		{name: "check allowed through a service and a named port",
			args: []string{"check", "-f", netpolDir, "--from", "y/a", "--to", "x/web", "--port", "8080"}, code: 0,
			outHas: []string{
				"y/a -> service x/web",
				"targetPort serve-80-tcp on 1 endpoint",
				"ALLOWED  y/a -> x/a TCP/80  (10.244.2.10 -> 10.244.1.10)",
				"isolated by  x/default-deny  (testdata/netpol/policies.yaml:1)",
				"allowed by   x/allow-y-a spec.ingress[0]  (testdata/netpol/policies.yaml:18)",
				`named port   "serve-80-tcp" (TCP) in x/allow-y-a spec.ingress[0] = 80`,
			},
			errHas: []string{`skipped: Palisade does not use kind "ConfigMap"`}},
		{name: "check denied exits 1",
			args: []string{"check", "-f", netpolDir, "--from", "y/b", "--to", "x/a", "--port", "80"}, code: 1,
			outHas: []string{"DENIED  y/b -> x/a TCP/80", "DENY ingress of x/a: isolated for ingress by 2 policies, and no ingress rule of them admits this peer and port"}},
		{name: "check by workload name on the tutorial example",
			args: []string{"check", "-f", example01, "--from", "default/denied", "--to", "default/target", "--port", "2345"}, code: 1,
			outHas: []string{"port 2345/TCP -> targetPort 1234 on 1 endpoint", "DENIED  default/denied-"}},
		{name: "check an IP outside the cluster",
			args: []string{"check", "-f", netpolDir, "--from", "192.0.2.7", "--to", "x/a", "--port", "80"}, code: 1,
			outHas: []string{"DENIED  192.0.2.7 -> x/a TCP/80", "not a pod: no egress policy applies"}},
		{name: "unknown pod", args: []string{"check", "-f", netpolDir, "--from", "y/a", "--to", "x/zz", "--port", "80"}, code: 2,
			errHas: []string{`Error from server (NotFound): pods "zz" not found in namespace "x"`}},
		{name: "service without that port", args: []string{"check", "-f", netpolDir, "--from", "y/a", "--to", "x/web", "--port", "80"}, code: 2,
			errHas: []string{"service x/web has no port 80/TCP"}},
		{name: "invalid policy stops every command", args: []string{"check", "-f", netpolDir, "-f", invalidDir, "--from", "y/a", "--to", "x/a", "--port", "80"}, code: 1,
			errHas: []string{"bad-endport.yaml:11: NetworkPolicy web/bad: spec.ingress[0].ports[0].endPort", "nothing was evaluated"}, stdoutNone: true},
		{name: "bad protocol", args: []string{"matrix", "-f", netpolDir, "--port", "80", "--protocol", "ICMP"}, code: 2,
			errHas: []string{`--protocol must be TCP, UDP or SCTP, not "ICMP"`}},
		{name: "bad port", args: []string{"check", "-f", netpolDir, "--from", "y/a", "--to", "x/a", "--port", "70000"}, code: 2,
			errHas: []string{"--port must be between 1 and 65535"}},
		{name: "matrix table", args: []string{"matrix", "-f", netpolDir, "--port", "80"}, code: 0,
			stdout: "TCP/80 x/a x/b y/a y/b\n" +
				"x/a    ✓   ✗   ✓   ✓\n" +
				"x/b    ✗   ✓   ✓   ✓\n" +
				"y/a    ✓   ✗   ✓   ✓\n" +
				"y/b    ✗   ✗   ✓   ✓\n" +
				"rows: from, columns: to; ✓ allowed, ✗ denied; 11 of 16 connections allowed\n"},
		{name: "matrix csv", args: []string{"matrix", "-f", netpolDir, "--port", "80", "-o", "csv"}, code: 0,
			outHas: []string{"TCP/80 from\\to,x/a,x/b,y/a,y/b\n", "y/a,true,false,true,true\n"}},
		{name: "matrix markdown", args: []string{"matrix", "-f", netpolDir, "--port", "80", "-o", "md"}, code: 0,
			outHas: []string{"| y/b | ✗ | ✗ | ✓ | ✓ |"}},
		{name: "matrix summary without a port", args: []string{"matrix", "-f", netpolDir}, code: 0,
			outHas: []string{"TCP/1: 10 of 16 connections allowed (no rule names this port", "TCP/80: 11 of 16 connections allowed"}},
		{name: "matrix limited to a namespace", args: []string{"matrix", "-f", netpolDir, "--port", "80", "--only-namespace", "x"}, code: 0,
			outHas: []string{"TCP/80 x/a x/b\n"}},
		{name: "unknown flag is a usage error", args: []string{"matrix", "--bogus"}, code: 2, errHas: []string{"unknown flag: --bogus"}},
		{name: "help teaches", args: []string{"check", "--help"}, code: 0, outHas: []string{"judged after DNAT", "Exit status: 0 allowed, 1 denied"}},
		{name: "a pod reaches its own node's address under deny-all",
			args: []string{"check", "-f", "testdata/nodelocal", "--from", "web", "--to", "172.18.0.11", "--port", "10250"}, code: 0,
			outHas: []string{"ALLOWED  default/web -> 172.18.0.11 TCP/10250", "egress  of default/web: node-local: traffic between a pod and its own node is always allowed"}},
		{name: "its own node reaches the pod under deny-all",
			args: []string{"check", "-f", "testdata/nodelocal", "--from", "node/n1", "--to", "web", "--port", "80"}, code: 0,
			outHas: []string{"(172.18.0.11 -> 10.244.1.5)", "ingress of default/web: node-local:"}},
		{name: "node-local DNS is the pod's own node",
			args: []string{"check", "-f", "testdata/nodelocal", "--from", "web", "--to", "169.254.20.10", "--port", "53", "--protocol", "UDP"}, code: 0,
			outHas: []string{"node-local: traffic between a pod and its own node is always allowed, whatever the policies (169.254.20.10 is node-local DNS"}},
		{name: "another node is judged on its tunnel address (flannel vxlan)",
			args: []string{"check", "-f", "testdata/nodelocal", "--from", "node/n2", "--to", "web", "--port", "80"}, code: 1,
			outHas: []string{"DENIED  node/n2 -> default/web TCP/80  (10.244.2.0 -> 10.244.1.5)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, tc.stdin, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errs)
			}
			if tc.stdout != "" && out != tc.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, tc.stdout)
			}
			if tc.stdoutNone && out != "" {
				t.Errorf("stdout should be empty, got:\n%s", out)
			}
			for _, s := range tc.outHas {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.errHas {
				if !strings.Contains(errs, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errs)
				}
			}
		})
	}
}

// TestMatrixJSONContract pins the shape docs/design.md promises other tools.
func TestMatrixJSONContract(t *testing.T) {
	code, out, errs := run(t, "", "matrix", "-f", netpolDir, "--port", "80", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("stdout is not only JSON: %v\n%s", err, out)
	}
	keys := []string{}
	for k := range raw {
		keys = append(keys, k)
	}
	if len(keys) != 4 {
		t.Errorf("keys = %v, want protocol, port, pods, matrix", keys)
	}
	var m struct {
		Protocol string
		Port     int
		Pods     []string
		Matrix   [][]bool
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	want := [][]bool{{true, false, true, true}, {false, true, true, true}, {true, false, true, true}, {false, false, true, true}}
	if m.Protocol != "TCP" || m.Port != 80 || !reflect.DeepEqual(m.Pods, []string{"x/a", "x/b", "y/a", "y/b"}) || !reflect.DeepEqual(m.Matrix, want) {
		t.Errorf("got %+v", m)
	}
}

func TestCheckJSON(t *testing.T) {
	code, out, _ := run(t, "", "check", "-f", netpolDir, "--from", "y/a", "--to", "x/a", "--port", "80", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var r struct {
		Allowed     bool
		Connections []struct {
			Ingress struct {
				Reason    string
				AllowedBy []struct{ Policy, Rule, Source string }
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if !r.Allowed || len(r.Connections) != 1 || r.Connections[0].Ingress.Reason != "allowed-by-rule" ||
		len(r.Connections[0].Ingress.AllowedBy) != 1 || r.Connections[0].Ingress.AllowedBy[0].Source != "testdata/netpol/policies.yaml:18" {
		t.Errorf("unexpected %s", out)
	}
}

// TestBadChannelSaysErrorOnce: a refused --crd-channel is one "error:" line,
// exit 2, whichever command reads the input.
func TestBadChannelSaysErrorOnce(t *testing.T) {
	f := filepath.Join(t.TempDir(), "ns.yaml")
	if err := os.WriteFile(f, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"validate", "-f", f, "--crd-channel", "bogus"},
		{"check", "-f", f, "--crd-channel", "bogus", "--from", "a/x", "--to", "a/y", "--port", "1"},
		{"lint", "-f", f, "--crd-channel", "bogus"},
	} {
		code, _, errs := run(t, "", args...)
		if want := "error: --crd-channel must be experimental or standard, not \"bogus\"\n"; code != 2 || errs != want {
			t.Errorf("%v: exit %d, stderr %q; want 2, %q", args, code, errs, want)
		}
	}
}
