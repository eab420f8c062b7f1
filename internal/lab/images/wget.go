package images

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runWget is Alpine's busybox wget. Debian's busybox is built without
// --timeout/-T, which NetworkPolicy tutorials type (`wget -qO- --timeout=2`),
// and GNU wget retries a timed-out connection 20 times, so neither behaves
// like the Alpine pod the tutorial assumes.
func runWget(p *proc, args []string) error {
	o, urls, err := parseWgetArgs(args)
	if err != nil {
		fmt.Fprintf(p.stderr, "wget: %v\n%s", err, wgetUsage)
		return &ExitError{Code: 1}
	}
	if len(urls) == 0 {
		fmt.Fprint(p.stderr, wgetUsage)
		return &ExitError{Code: 1}
	}
	msgs := p.stderr
	if o.logFile != "" {
		f, err := os.Create(o.logFile)
		if err != nil {
			fmt.Fprintf(p.stderr, "wget: can't open '%s': %v\n", o.logFile, errnoText(err))
			return &ExitError{Code: 1}
		}
		defer func() { _ = f.Close() }()
		msgs = f
	}
	for _, u := range urls {
		if err := wgetOne(p, o, u, msgs); err != nil {
			fmt.Fprintf(msgs, "wget: %v\n", err)
			return &ExitError{Code: 1}
		}
	}
	return nil
}

const wgetUsage = `BusyBox v1.36.1 (palisade lab) multi-call binary.

Usage: wget [-cqS] [--spider] [-O FILE] [-o LOGFILE] [--header STR]
	[--post-data STR | --post-file FILE] [-Y on/off]
	[--no-check-certificate] [-P DIR] [-U AGENT] [-T SEC] URL...

Retrieve files via HTTP or FTP

	--spider	Only check URL existence: $? is 0 if exists
	--header STR	Add STR (of form 'header: value') to headers
	--post-data STR	Send STR using POST method
	--post-file FILE	Send FILE using POST method
	--no-check-certificate	Don't validate the server's certificate
	-c		Continue retrieval of aborted transfer
	-q		Quiet
	-P DIR		Save to DIR (default .)
	-S    		Show server response
	-T SEC		Network read timeout is SEC seconds
	-O FILE		Save to FILE ('-' for stdout)
	-o LOGFILE	Log messages to FILE
	-U STR		Use STR for User-Agent header
	-Y on/off	Use proxy
`

type wgetOptions struct {
	quiet, showHeaders, spider, insecure, cont bool
	output, logFile, dir                       string
	userAgent                                  string
	timeout                                    time.Duration
	headers                                    []string
	postData                                   *string
	postFile                                   string
}

// parseWgetArgs follows getopt_long as busybox uses it: clustered short
// options (-qO-), attached or separate values, unambiguous long-option
// prefixes, options anywhere before "--".
func parseWgetArgs(args []string) (wgetOptions, []string, error) {
	o := wgetOptions{userAgent: "Wget", timeout: 900 * time.Second}
	var urls []string
	type longOpt struct {
		name   string
		hasArg bool
		short  byte
	}
	longs := []longOpt{
		{"continue", false, 'c'}, {"quiet", false, 'q'}, {"server-response", false, 'S'},
		{"output-document", true, 'O'}, {"output-file", true, 'o'}, {"directory-prefix", true, 'P'},
		{"proxy", true, 'Y'}, {"user-agent", true, 'U'}, {"timeout", true, 'T'}, {"tries", true, 't'},
		{"spider", false, 1}, {"header", true, 2}, {"post-data", true, 3}, {"post-file", true, 4},
		{"no-check-certificate", false, 5}, {"no-cache", false, 6}, {"passive-ftp", false, 6},
	}
	apply := func(opt byte, val string) error {
		switch opt {
		case 'c':
			o.cont = true
		case 'q':
			o.quiet = true
		case 'S':
			o.showHeaders = true
		case 'O':
			o.output = val
		case 'o':
			o.logFile = val
		case 'P':
			o.dir = val
		case 'U':
			o.userAgent = val
		case 'T':
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return fmt.Errorf("invalid number '%s'", val)
			}
			o.timeout = time.Duration(n) * time.Second
		case 1:
			o.spider = true
		case 2:
			o.headers = append(o.headers, val)
		case 3:
			v := val
			o.postData = &v
		case 4:
			o.postFile = val
		case 5:
			o.insecure = true
		}
		// -Y, -t, -n, --no-cache and --passive-ftp are accepted and ignored,
		// as busybox does.
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			urls = append(urls, args[i+1:]...)
			return o, urls, nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			var match []longOpt
			for _, l := range longs {
				if l.name == name {
					match = []longOpt{l}
					break
				}
				if strings.HasPrefix(l.name, name) {
					match = append(match, l)
				}
			}
			if len(match) != 1 {
				if len(match) > 1 {
					return o, nil, fmt.Errorf("option '%s' is ambiguous", a)
				}
				return o, nil, fmt.Errorf("unrecognized option '%s'", a)
			}
			l := match[0]
			if l.hasArg && !hasVal {
				if i+1 >= len(args) {
					return o, nil, fmt.Errorf("option '--%s' requires an argument", l.name)
				}
				i++
				val = args[i]
			} else if !l.hasArg && hasVal {
				return o, nil, fmt.Errorf("option '--%s' doesn't allow an argument", l.name)
			}
			if err := apply(l.short, val); err != nil {
				return o, nil, err
			}
		case strings.HasPrefix(a, "-") && a != "-":
			for j := 1; j < len(a); j++ {
				c := a[j]
				switch c {
				case 'c', 'q', 'S':
					_ = apply(c, "")
				case 'n':
					// -nv and friends: an optional attached argument, ignored.
					j = len(a)
				case 'O', 'o', 'P', 'U', 'T', 'Y', 't':
					val := a[j+1:]
					if val == "" {
						if i+1 >= len(args) {
							return o, nil, fmt.Errorf("option requires an argument -- '%c'", c)
						}
						i++
						val = args[i]
					}
					if err := apply(c, val); err != nil {
						return o, nil, err
					}
					j = len(a)
				default:
					return o, nil, fmt.Errorf("invalid option -- '%c'", c)
				}
			}
		default:
			urls = append(urls, a)
		}
	}
	return o, urls, nil
}

// wgetError is a message busybox prints after "wget: ".
type wgetError struct{ msg string }

func (e *wgetError) Error() string { return e.msg }

func wgetOne(p *proc, o wgetOptions, raw string, msgs io.Writer) error {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return &wgetError{fmt.Sprintf("bad address '%s'", strings.TrimPrefix(raw, "http://"))}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return &wgetError{fmt.Sprintf("not an http or ftp url: %s", raw)}
	}
	dialer := &net.Dialer{Timeout: o.timeout}
	transport := &http.Transport{
		Proxy:                 nil,
		DisableKeepAlives:     true,
		DisableCompression:    true,
		ResponseHeaderTimeout: o.timeout,
		TLSClientConfig:       &tls.Config{InsecureSkipVerify: o.insecure},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, &wgetError{fmt.Sprintf("bad address '%s'", addr)}
			}
			ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
			if err != nil || len(ips) == 0 {
				return nil, &wgetError{fmt.Sprintf("bad address '%s'", u.Host)}
			}
			target := net.JoinHostPort(ips[0].IP.String(), port)
			if !o.quiet {
				fmt.Fprintf(msgs, "Connecting to %s (%s)\n", u.Host, target)
			}
			c, err := dialer.DialContext(ctx, network, target)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					return nil, &wgetError{"download timed out"}
				}
				return nil, &wgetError{fmt.Sprintf("can't connect to remote host (%s): %s", ips[0].IP, errnoText(err))}
			}
			return &idleConn{Conn: c, idle: o.timeout}, nil
		},
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}

	method := http.MethodGet
	var body io.Reader
	switch {
	case o.postData != nil:
		method, body = http.MethodPost, strings.NewReader(*o.postData)
	case o.postFile != "":
		b, err := os.ReadFile(o.postFile)
		if err != nil {
			return &wgetError{fmt.Sprintf("can't open '%s': %s", o.postFile, errnoText(err))}
		}
		method, body = http.MethodPost, strings.NewReader(string(b))
	case o.spider:
		method = http.MethodHead
	}
	req, err := http.NewRequestWithContext(p.ctx, method, u.String(), body)
	if err != nil {
		return &wgetError{err.Error()}
	}
	req.Close = true
	req.Header.Set("User-Agent", o.userAgent)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, h := range o.headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := client.Do(req)
	if err != nil {
		return wgetCause(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if o.showHeaders {
		fmt.Fprintf(msgs, "  %s %s\n", resp.Proto, resp.Status)
		for _, k := range slices.Sorted(maps.Keys(resp.Header)) {
			for _, v := range resp.Header[k] {
				fmt.Fprintf(msgs, "  %s: %s\n", k, v)
			}
		}
	}
	if resp.StatusCode >= 300 {
		return &wgetError{fmt.Sprintf("server returned error: %s %s", resp.Proto, resp.Status)}
	}
	if o.spider {
		if !o.quiet {
			fmt.Fprintln(msgs, "remote file exists")
		}
		return nil
	}

	var out io.Writer
	name := o.output
	if name == "" {
		name = path.Base(resp.Request.URL.Path)
		if name == "/" || name == "." || name == "" {
			name = "index.html"
		}
		if o.dir != "" {
			name = filepath.Join(o.dir, name)
		}
	}
	if name == "-" {
		out = p.stdout
		if !o.quiet {
			fmt.Fprintln(msgs, "writing to stdout")
		}
	} else {
		flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
		if o.output == "" && !o.cont {
			flags |= os.O_EXCL
		}
		f, err := os.OpenFile(name, flags, 0o666)
		if err != nil {
			return &wgetError{fmt.Sprintf("can't open '%s': %s", name, errnoText(err))}
		}
		defer func() { _ = f.Close() }()
		out = f
		if !o.quiet {
			fmt.Fprintf(msgs, "saving to '%s'\n", name)
		}
	}
	n, err := io.Copy(out, resp.Body)
	if err != nil {
		return wgetCause(err)
	}
	if !o.quiet {
		label := name
		if name == "-" {
			label = "-"
		}
		fmt.Fprintf(msgs, "%-20s 100%% |%s| %s  0:00:00 ETA\n", filepath.Base(label), strings.Repeat("*", 31), sizeText(n))
		if name == "-" {
			fmt.Fprintln(msgs, "written to stdout")
		} else {
			fmt.Fprintf(msgs, "'%s' saved\n", name)
		}
	}
	return nil
}

func wgetCause(err error) error {
	var we *wgetError
	if errors.As(err, &we) {
		return we
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &wgetError{"download timed out"}
	}
	if errors.Is(err, context.Canceled) {
		return &wgetError{"interrupted"}
	}
	return &wgetError{err.Error()}
}

func sizeText(n int64) string {
	switch {
	case n < 100000:
		return fmt.Sprintf("%5d", n)
	case n < 100000*1024:
		return fmt.Sprintf("%4dk", n/1024)
	}
	return fmt.Sprintf("%4dM", n/(1024*1024))
}

// errnoText renders an error the way libc's strerror does ("Connection
// refused").
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		s := errno.Error()
		if s != "" {
			return strings.ToUpper(s[:1]) + s[1:]
		}
	}
	return err.Error()
}

// idleConn times out a read that waits longer than idle, busybox's -T.
type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) Read(b []byte) (int, error) {
	if c.idle > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	}
	return c.Conn.Read(b)
}
