package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/palisade-net/palisade/internal/cluster"
	"github.com/palisade-net/palisade/internal/lab"
)

// labDiff is `kubectl diff -f`: every object as the lab holds it (LIVE)
// and as applying the files would store it (MERGED, from a server dry
// run), one file each, named as kubectl names them, compared by diff -u -N.
// Exit 0: no change; 1: apply would change something; 2: an error.
func labDiff(cmd *cobra.Command, s *streams, in *inputFlags) error {
	asDiffErr := func(err error) error {
		var ee *exitError
		if errors.As(err, &ee) && ee.code == exitNo {
			return &exitError{code: exitBadUsage, msg: ee.msg}
		}
		return err
	}
	res, err := in.load(cmd, s)
	if err != nil {
		return asDiffErr(err)
	}
	res.Objects = labServes(s, res.Objects)
	errs, warnings := cluster.Validate(res.Objects)
	for _, w := range warnings {
		fmt.Fprintln(s.err, w)
	}
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(s.err, e)
		}
		return fail(exitBadUsage, "error: %d invalid objects", len(errs))
	}
	req := lab.ApplyRequest{DryRun: lab.DryRunServer}
	for _, o := range res.Objects {
		w, err := lab.Encode(o.Kind, o.Obj)
		if err != nil {
			return fail(exitBadUsage, "error: %v", err)
		}
		req.Objects = append(req.Objects, w)
	}
	c, err := labClient()
	if err != nil {
		return asDiffErr(err)
	}
	r, err := c.Call("/apply", req)
	if err != nil {
		return asDiffErr(labError(err))
	}
	if r.Error != "" {
		return fail(exitBadUsage, "%s", r.Error)
	}
	st, err := c.State()
	if err != nil {
		return asDiffErr(labError(err))
	}
	// Named as kubectl names them, so the diff's headers read the same.
	live, err := os.MkdirTemp("", "LIVE-")
	if err != nil {
		return fail(exitBadUsage, "error: %v", err)
	}
	defer os.RemoveAll(live)
	merged, err := os.MkdirTemp("", "MERGED-")
	if err != nil {
		return fail(exitBadUsage, "error: %v", err)
	}
	defer os.RemoveAll(merged)
	for _, w := range r.Objects {
		obj, err := w.Decode()
		if err != nil {
			return fail(exitBadUsage, "error: %v", err)
		}
		k, _ := lab.KindOf(w.Kind)
		gvk := k.GroupVersionKind()
		name := gvk.Version + "." + gvk.Kind + "." + obj.GetNamespace() + "." + obj.GetName()
		if gvk.Group != "" {
			name = gvk.Group + "." + name
		}
		cur, _ := lab.Objects(st, lab.Query{Kind: k, Namespace: obj.GetNamespace(), Names: []string{obj.GetName()}})
		if len(cur) == 1 {
			if err := writeYAML(filepath.Join(live, name), cur[0]); err != nil {
				return fail(exitBadUsage, "error: %v", err)
			}
		}
		if err := writeYAML(filepath.Join(merged, name), obj.(runtime.Object)); err != nil {
			return fail(exitBadUsage, "error: %v", err)
		}
	}
	argv := []string{"diff", "-u", "-N"}
	if ext := os.Getenv("KUBECTL_EXTERNAL_DIFF"); ext != "" {
		argv = strings.Fields(ext)
	}
	d := exec.Command(argv[0], append(argv[1:], live, merged)...)
	d.Stdout, d.Stderr = s.out, s.err
	err = d.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return &exitError{code: exitNo}
	default:
		return fail(exitBadUsage, "error: failed to run %q: %v", argv[0], err)
	}
}

// writeYAML writes an object as kubectl diff shows it: without
// managedFields.
func writeYAML(path string, o runtime.Object) error {
	if m, ok := o.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return (&printers.YAMLPrinter{}).PrintObj(o, f)
}

// printApplied is apply -o: the objects as the lab stored them (or, in a
// dry run, would), one document each, as kubectl prints them.
func printApplied(s *streams, r lab.Response, output string) error {
	for _, l := range r.Lines {
		if strings.HasPrefix(l, "warning: ") || strings.HasPrefix(l, "Warning: ") {
			fmt.Fprintln(s.err, l)
		}
	}
	objs := r.Objects
	var p printers.ResourcePrinter = &printers.YAMLPrinter{}
	if output == "json" {
		p = &printers.JSONPrinter{}
	}
	for _, w := range objs {
		obj, err := w.Decode()
		if err != nil {
			return fail(exitNo, "error: %v", err)
		}
		if output == "name" {
			k, _ := lab.KindOf(w.Kind)
			fmt.Fprintf(s.out, "%s/%s\n", k.Qualified(), obj.GetName())
			continue
		}
		if err := p.PrintObj(obj.(runtime.Object), s.out); err != nil {
			return err
		}
	}
	return nil
}
