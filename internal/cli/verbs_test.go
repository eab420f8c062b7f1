package cli

import (
	"strings"
	"testing"
)

// TestLabVerbsRefuseBadUsage: the new kubectl verbs refuse bad flags and
// arguments with kubectl's words and exit codes, before they reach the
// lab (none runs here).
func TestLabVerbsRefuseBadUsage(t *testing.T) {
	t.Setenv("PALISADE_LAB_DIR", t.TempDir())
	tests := []struct {
		args   []string
		code   int
		errHas string
	}{
		{[]string{"scale", "deploy/web"}, 1, `error: required flag(s) "replicas" not set`},
		{[]string{"scale", "--replicas=-1", "deploy/web"}, 1, "error: The --replicas=COUNT flag is required"},
		{[]string{"scale", "--replicas=2", "pod/x"}, 1, "Error from server (NotFound): the server could not find the requested resource"},
		{[]string{"scale", "--replicas=2", "deploy"}, 1, "error: resource(s) were provided, but no name was specified"},
		{[]string{"scale", "--replicas=2", "deploy/web", "--dry-run=maybe"}, 1, `error: Invalid dry-run value (maybe). Must be "none", "server", or "client".`},
		{[]string{"patch", "deploy", "web"}, 1, "error: must specify --patch or --patch-file containing the contents of the patch"},
		{[]string{"patch", "deploy", "web", "-p", "{}", "--type", "bogus"}, 1, `error: --type must be one of [json merge strategic], not "bogus"`},
		{[]string{"patch", "deploy", "web", "-p", "spec: {replicas: [}"}, 1, `error: unable to parse "spec: {replicas: [}": yaml: did not find expected node content`},
		{[]string{"patch", "deploy", "web", "-p", "{}", "--patch-file", "x"}, 1, "error: cannot specify --patch and --patch-file together"},
		{[]string{"patch", "widgets", "web", "-p", "{}"}, 1, `error: the server doesn't have a resource type "widgets"`},
		{[]string{"apply", "-f", "x.yaml", "--dry-run=bogus"}, 1, `error: Invalid dry-run value (bogus). Must be "none", "server", or "client".`},
		{[]string{"apply", "--dry-run", "-f", "nothere.yaml"}, 2, `--dry-run is deprecated and can be replaced with --dry-run=client.`},
		{[]string{"annotate", "pod"}, 1, "error: at least one annotation update is required"},
		{[]string{"annotate", "pod", "x"}, 1, "error: at least one annotation update is required"},
		{[]string{"annotate", "pod", "x", "y"}, 1, "error: at least one annotation update is required"},
		{[]string{"annotate", "pod", "a=b"}, 1, "error: resource(s) were provided, but no name was specified"},
		{[]string{"rollout", "restart", "statefulset/db"}, 1, "error: the lab restarts deployments only"},
		{[]string{"rollout", "restart", "deployment"}, 2, "error: required resource not specified"},
		{[]string{"rollout", "status", "deployment"}, 2, "error: exactly one NAME is required, got 0"},
		{[]string{"get", "pods", "-o", "custom-columns="}, 1, "error: custom-columns format specified but no custom columns given"},
		{[]string{"get", "pods", "-o", "custom-columns=NAME"}, 1, "error: unexpected custom-columns spec: NAME, expected <header>:<json-path-expr>"},
		{[]string{"get", "pods", "-o", "custom-columns-file=/nonexistent"}, 1, "error: error reading template /nonexistent"},
		{[]string{"get", "pods", "--field-selector", "a"}, 1, `Error from server (BadRequest): Unable to find "/v1, Resource=pods" that match label selector "", field selector "a": invalid selector: 'a'; can't understand 'a'`},
		{[]string{"get", "pods", "-w", "--request-timeout", "soon"}, 1, "error: Invalid timeout value. Timeout must be a single integer in seconds, or an integer followed by a corresponding time unit (e.g. 1s | 2m | 3h)"},
		{[]string{"diff", "-f", "x.yaml", "a", "b"}, 2, `unknown command "a" for "palisade diff"`},
		{[]string{"port-forward", "pod/x", "80", "--address", "0.0.0.0"}, 2, `error: the lab forwards from 127.0.0.1 only, not "0.0.0.0"`},
		{[]string{"port-forward", "pod/x"}, 1, "error: TYPE/NAME and list of ports are required for port-forward\nSee 'palisade port-forward -h' for help and examples"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errs := run(t, "", tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.errHas) {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s\nwant in stderr: %s", code, tc.code, out, errs, tc.errHas)
			}
		})
	}
}

// TestLabVerbsHelp: every new verb teaches with examples.
func TestLabVerbsHelp(t *testing.T) {
	for _, verb := range [][]string{{"patch"}, {"scale"}, {"annotate"}, {"rollout"}, {"rollout", "restart"}, {"rollout", "status"}, {"port-forward"}, {"get"}, {"diff"}, {"apply"}} {
		code, out, _ := run(t, "", append(verb, "--help")...)
		if code != 0 || !strings.Contains(out, "Examples:") {
			t.Errorf("%v --help: exit %d\n%s", verb, code, out)
		}
	}
}
