package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/palisade-net/palisade/internal/analysis"
	"github.com/palisade-net/palisade/internal/lab"
)

func newDenials(s *streams) *cobra.Command {
	var (
		namespace string
		all       bool
		follow    bool
		tail      int
		output    string
	)
	cmd := &cobra.Command{
		Use:   "denials [-f] [-n NS | -A] [--tail N] [-o text|json]",
		Short: "Show the packets the lab's network policies dropped, and which policies dropped them",
		Long: `Denials lists packets the lab's nodes dropped because a NetworkPolicy does not
allow them: when, which pod sent the packet to which pod (or address) and
port, the protocol, the side that refused it, and the policies that isolate
that side. For an ingress denial those are the policies selecting the
destination pod for ingress, for an egress denial the ones selecting the
source pod for egress: none of their rules admits the packet, and adding a
rule to any of them would.

Only packets that try to open a connection are judged, and a connection
attempt is one line: the client's retries of it (a SYN sent again from the
same port, within three minutes) are counted in its "packets", not listed
again; a new attempt (a new source port) is a new line. Services are
already resolved: the destination is the pod behind the service and the
port is its target port, which is what a policy must name.

Without -f it prints the denials the lab kept (the last 1000) and exits;
with -f it then keeps printing new ones until interrupted.

-n NS keeps denials with a pod of namespace NS on either side, the source or
the destination: a pod of NS refused, or a pod of NS was refused. The default
is the "default" namespace, as with kubectl; -A shows every denial, also
those between addresses that are not pods.

-o json prints one JSON object per line (JSON Lines):
  {"time":"2026-11-23T13:15:02.123456Z","node":"node-1","direction":"ingress",
   "reason":"policy","protocol":"TCP",
   "source":{"pod":"default/client","ip":"10.244.1.3","port":40112},
   "destination":{"pod":"default/target-7c9d-x2b4k","ip":"10.244.1.4","port":1234},
   "policies":["default/deny-all"],"packets":3}
"pod" is omitted for an address that is no pod's; "port" for ICMP. "reason"
is "policy", or "unsynced" when the data plane did not know the pod's
address yet and failed closed.`,
		Example: `  # What did the policies in namespace default drop?
  palisade denials

  # Watch every denial in the lab while you test a connection
  palisade denials -A -f

  # The last 20 denials involving namespace default, as JSON Lines
  palisade denials -n default --tail 20 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fail(exitBadUsage, "error: -o must be text or json")
			}
			if all {
				namespace = ""
			}
			c, err := labClient()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			p := denialPrinter{out: s.out, errw: s.err, json: output == "json"}
			err = c.Denials(ctx, lab.DenialsOptions{Namespace: namespace, Tail: tail, Follow: follow}, p.event)
			if err != nil && ctx.Err() == nil {
				return labError(err)
			}
			if p.count > 0 {
				if err := p.flush(nil); err != nil {
					return err
				}
			}
			if p.count == 0 && !follow && output == "text" {
				where := "in " + namespace + " namespace"
				if namespace == "" {
					where = "in the lab"
				}
				fmt.Fprintf(s.err, "No denied packets recorded %s.\n", where)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new denials until interrupted")
	f.StringVarP(&namespace, "namespace", "n", "default", "show denials with a pod of this namespace on either side")
	f.BoolVarP(&all, "all-namespaces", "A", false, "show every denial")
	f.IntVar(&tail, "tail", -1, "show only the last N recorded denials (with -f: then the new ones; 0 for new ones only)")
	f.StringVarP(&output, "output", "o", "text", "text or json (JSON Lines)")
	return cmd
}

// denialPrinter writes denials as they arrive. Text is a kubectl-style
// table: the recorded denials are held until all have arrived so the
// columns fit them; after that (following) each new one is printed at
// once, widening a column when a row needs it.
type denialPrinter struct {
	out, errw io.Writer
	json      bool
	count     int
	widths    []int
	held      [][]string
	live      bool
}

var denialColumns = []string{"TIME", "NODE", "DIRECTION", "SOURCE", "DESTINATION", "PORT", "PROTOCOL", "POLICIES"}

func (p *denialPrinter) event(ev lab.DenialEvent) error {
	switch {
	case ev.Live:
		// Rows to come may be wider than the recorded ones: start from
		// widths that fit typical pod names, so the table stays aligned.
		return p.flush([]int{12, 6, 9, 24, 36, 5, 8, 0})
	case ev.Denial == nil:
		fmt.Fprintf(p.errw, "warning: %d denied %s not recorded (the log overflowed)\n", ev.Lost, analysis.Plural(int(ev.Lost), "packet was", "packets were"))
		return nil
	}
	p.count++
	if p.json {
		return json.NewEncoder(p.out).Encode(ev.Denial)
	}
	row := denialRow(ev.Denial)
	if !p.live {
		p.held = append(p.held, row)
		return nil
	}
	p.widen(row)
	return p.write(row)
}

// flush prints the header and the held rows, in columns at least minimum
// wide; rows after it print at once.
func (p *denialPrinter) flush(minimum []int) error {
	if p.json || p.live {
		return nil
	}
	p.live = true
	p.widths = make([]int, len(denialColumns))
	copy(p.widths, minimum)
	for _, r := range append([][]string{denialColumns}, p.held...) {
		p.widen(r)
	}
	for _, r := range append([][]string{denialColumns}, p.held...) {
		if err := p.write(r); err != nil {
			return err
		}
	}
	p.held = nil
	return nil
}

func (p *denialPrinter) widen(row []string) {
	for i, c := range row {
		p.widths[i] = max(p.widths[i], len(c))
	}
}

func (p *denialPrinter) write(row []string) error {
	var b strings.Builder
	for i, c := range row {
		b.WriteString(c)
		if i < len(row)-1 {
			b.WriteString(strings.Repeat(" ", p.widths[i]-len(c)+3))
		}
	}
	b.WriteByte('\n')
	_, err := io.WriteString(p.out, b.String())
	return err
}

func denialRow(d *lab.Denial) []string {
	who := func(e lab.DenialEndpoint) string {
		if e.Pod != "" {
			return e.Pod
		}
		return e.IP
	}
	port := "-"
	if d.Destination.Port != 0 {
		port = strconv.Itoa(int(d.Destination.Port))
	}
	pols := strings.Join(d.Policies, ",")
	switch {
	case d.ClusterPolicy != nil:
		pols = d.ClusterPolicy.String()
	case d.Reason == "unsynced":
		pols = "<pod not synced yet>"
	case pols == "":
		pols = "<none>"
	}
	return []string{d.Time.Local().Format("15:04:05.000"), d.Node, d.Direction, who(d.Source), who(d.Destination), port, d.Protocol, pols}
}
