package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/palisade-net/palisade/internal/lab"
	labprinters "github.com/palisade-net/palisade/internal/printers"
)

// group is the objects of one kind that get prints together.
type group struct {
	kind lab.Kind
	objs []runtime.Object
}

// getPrinter prints what get found, in every output format get knows.
type getPrinter struct {
	s                               *streams
	output                          string
	columns                         []labprinters.Column
	wide, withNamespace, showLabels bool
	noHeader, withKind              bool
}

// table prints a group with kubectl's columns; each call aligns its own
// rows, as kubectl's watch flushes its tab writer per event.
func (p getPrinter) table(g group, noHeader bool) error {
	tp := printers.NewTablePrinter(printers.PrintOptions{
		Wide: p.wide, WithNamespace: p.withNamespace && g.kind.Namespaced, ShowLabels: p.showLabels,
		NoHeaders: noHeader, WithKind: p.withKind, Kind: schema.GroupKind{Group: g.kind.Group, Kind: g.kind.Kind},
	})
	return tp.PrintObj(g.kind.Print.Table(g.objs, time.Now()), p.s.out)
}

// each prints objects one by one, as a watch event shows them; header says
// whether a table's header is due.
func (p getPrinter) each(g group, header bool) error {
	switch {
	case p.columns != nil:
		return labprinters.PrintCustomColumns(p.s.out, p.columns, g.objs, !header)
	case p.output == "json" || p.output == "yaml":
		var rp printers.ResourcePrinter = &printers.JSONPrinter{}
		if p.output == "yaml" {
			rp = &printers.YAMLPrinter{}
		}
		for _, o := range g.objs {
			if err := rp.PrintObj(o, p.s.out); err != nil {
				return err
			}
		}
		return nil
	case p.output == "name":
		for _, o := range g.objs {
			fmt.Fprintf(p.s.out, "%s/%s\n", g.kind.Qualified(), o.(metav1.Object).GetName())
		}
		return nil
	case strings.HasPrefix(p.output, "jsonpath="), strings.HasPrefix(p.output, "jsonpath-as-json="):
		tmpl := strings.SplitN(p.output, "=", 2)[1]
		jp, err := printers.NewJSONPathPrinter(tmpl)
		if err != nil {
			return fail(exitBadUsage, "error: error parsing jsonpath %s, %v", tmpl, err)
		}
		jp.AllowMissingKeys(true)
		jp.EnableJSONOutput(strings.HasPrefix(p.output, "jsonpath-as-json="))
		for _, o := range g.objs {
			if err := jp.PrintObj(o, p.s.out); err != nil {
				return fail(exitNo, "error: %v", err)
			}
		}
		return nil
	case p.output != "" && p.output != "wide":
		return fail(exitBadUsage, "error: unable to match a printer suitable for the output format %q, allowed formats are: custom-columns,custom-columns-file,json,jsonpath,name,wide,yaml", p.output)
	}
	if len(g.objs) == 0 {
		return nil
	}
	return p.table(g, p.noHeader || !header)
}

// watchObjects is `get -w`: the list (unless watchOnly), then every object
// that is added, changes or goes, one line each as kubectl prints watch
// events, until interrupted or the timeout passes (0: never). The lab
// keeps no event log: the store is read four times a second and compared,
// so changes between two reads show as one row (kubectl would print one
// per update).
func watchObjects(ctx context.Context, c *lab.Client, p getPrinter, q lab.Query, initial []runtime.Object, watchOnly bool, timeout time.Duration) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	seen := map[string][]byte{}
	last := map[string]runtime.Object{}
	key := func(o runtime.Object) string {
		m := o.(metav1.Object)
		return m.GetNamespace() + "/" + m.GetName()
	}
	for _, o := range initial {
		b, _ := json.Marshal(o)
		seen[key(o)], last[key(o)] = b, o
	}
	// A table is printed as kubectl's watch prints it: one printer (its
	// header once) into one tab writer that remembers its column widths
	// across the flush after every event.
	var emit func(objs []runtime.Object, header bool) error
	if p.columns == nil && (p.output == "" || p.output == "wide") {
		tw := printers.GetNewTabWriter(p.s.out)
		tp := printers.NewTablePrinter(printers.PrintOptions{
			Wide: p.wide, WithNamespace: p.withNamespace && q.Kind.Namespaced, ShowLabels: p.showLabels,
			NoHeaders: p.noHeader, Kind: schema.GroupKind{Group: q.Kind.Group, Kind: q.Kind.Kind},
		})
		emit = func(objs []runtime.Object, _ bool) error {
			if len(objs) == 0 {
				return nil
			}
			if err := tp.PrintObj(q.Kind.Print.Table(objs, time.Now()), tw); err != nil {
				return err
			}
			return tw.Flush()
		}
	} else {
		emit = func(objs []runtime.Object, header bool) error { return p.each(group{q.Kind, objs}, header) }
	}
	header := true
	if !watchOnly {
		if err := emit(initial, true); err != nil {
			return err
		}
		header = len(initial) == 0
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		st, err := c.State()
		if err != nil {
			return labError(err)
		}
		objs, err := lab.Objects(st, q)
		if err != nil {
			return fail(exitNo, "error: %v", err)
		}
		var changed []runtime.Object
		now := map[string]bool{}
		for _, o := range objs {
			k := key(o)
			now[k] = true
			b, _ := json.Marshal(o)
			if string(seen[k]) != string(b) {
				changed = append(changed, o)
				seen[k], last[k] = b, o
			}
		}
		// A deleted object is printed once more, as kubectl prints the
		// DELETED event's object.
		for k, o := range last {
			if !now[k] {
				changed = append(changed, o)
				delete(last, k)
				delete(seen, k)
			}
		}
		if len(changed) == 0 {
			continue
		}
		if err := emit(changed, header); err != nil {
			return err
		}
		header = false
	}
}

// parseRequestTimeout reads kubectl's --request-timeout: a duration, or a
// number of seconds; 0 means no timeout.
func parseRequestTimeout(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fail(exitNo, "error: Invalid timeout value. Timeout must be a single integer in seconds, or an integer followed by a corresponding time unit (e.g. 1s | 2m | 3h)")
	}
	return d, nil
}
