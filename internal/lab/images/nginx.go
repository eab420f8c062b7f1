package images

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

// nginxWelcome is the index.html the official image ships.
const nginxWelcome = `<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
`

// nginx50x is the 50x.html the official image ships.
const nginx50x = `<!DOCTYPE html>
<html>
<head>
<title>Error</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
<p>If you are the system administrator of this resource then you should check
the error log for details.</p>
<p><em>Faithfully yours, nginx.</em></p>
</body>
</html>
`

// nginxFileTime is when the image's html files were built; it shows in
// Last-Modified and ETag.
func nginxFileTime() time.Time { return time.Date(2024, 11, 26, 15, 55, 0, 0, time.UTC) }

// runNginx serves what the official image serves with its default.conf:
// /usr/share/nginx/html on port 80, the combined-style "main" access log on
// stdout and notices on stderr. Configuration (flags, -c, -g) is not read.
func runNginx(p *proc, args []string) error {
	version := defaultNginxVersion
	port := 80
	for i := 0; i+1 < len(args); i += 2 {
		switch args[i] {
		case "--palisade-version":
			version = args[i+1]
		case "--palisade-port":
			if _, err := fmt.Sscan(args[i+1], &port); err != nil {
				return fmt.Errorf("nginx: bad port %q", args[i+1])
			}
		}
	}
	now := func() string { return time.Now().Format("2006/01/02 15:04:05") }
	for _, l := range []string{
		"/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration",
		"/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/",
		"/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
		"10-listen-on-ipv6-by-default.sh: info: Enabled listen on IPv6 in /etc/nginx/conf.d/default.conf",
		"/docker-entrypoint.sh: Configuration complete; ready for start up",
	} {
		fmt.Fprintln(p.stdout, l)
	}
	ls, err := p.listenTCP(p.bindHosts(), port)
	if err != nil {
		fmt.Fprintf(p.stderr, "%s [emerg] 1#1: bind() to 0.0.0.0:%d failed (%v)\nnginx: [emerg] bind() to 0.0.0.0:%d failed (%v)\n", now(), port, err, port, err)
		return err
	}
	pid := os.Getpid()
	fmt.Fprintf(p.stderr, "%s [notice] 1#1: using the \"epoll\" event method\n", now())
	fmt.Fprintf(p.stderr, "%s [notice] 1#1: nginx/%s\n", now(), version)
	fmt.Fprintf(p.stderr, "%s [notice] 1#1: start worker processes\n", now())
	fmt.Fprintf(p.stderr, "%s [notice] 1#1: start worker process %d\n", now(), pid)

	srv := &rawServer{
		handle:     nginxHandler(version),
		badRequest: func() rawResponse { return nginxError(http.StatusBadRequest, "400 Bad Request", "nginx/"+version) },
		served: func(r *http.Request, resp rawResponse, sent int, _ time.Duration) {
			// The official image's log_format main.
			fmt.Fprintf(p.stdout, "%s - %s [%s] \"%s\" %d %d \"%s\" \"%s\" \"%s\"\n",
				remoteIP(r), orDash(userOf(r)), time.Now().Format("02/Jan/2006:15:04:05 -0700"),
				nginxEscape(r.Method+" "+r.RequestURI+" "+r.Proto), resp.status, sent,
				orDash(r.Referer()), orDash(r.UserAgent()), orDash(r.Header.Get("X-Forwarded-For")))
		},
		idle: 65 * time.Second, // keepalive_timeout
	}
	srv.serve(p.ctx, ls)
	fmt.Fprintf(p.stderr, "%s [notice] 1#1: signal 15 (SIGTERM) received, exiting\n", now())
	fmt.Fprintf(p.stderr, "%s [notice] 1#1: exit\n", now())
	return nil
}

// nginxHandler serves default.conf's location / (root /usr/share/nginx/html)
// and error_page 50x, with nginx's header order.
func nginxHandler(version string) func(*http.Request, bool) rawResponse {
	server := "nginx/" + version
	return func(r *http.Request, _ bool) rawResponse {
		var body string
		switch r.URL.Path {
		case "/", "/index.html":
			body = nginxWelcome
		case "/50x.html":
			body = nginx50x
		}
		switch {
		case body == "":
			return nginxError(http.StatusNotFound, "404 Not Found", server)
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			return nginxError(http.StatusMethodNotAllowed, "405 Not Allowed", server)
		}
		mtime := nginxFileTime()
		etag := fmt.Sprintf("\"%x-%x\"", mtime.Unix(), len(body))
		if r.Header.Get("If-None-Match") == etag {
			return rawResponse{status: http.StatusNotModified, headers: []rawHeader{
				{"Server", server}, {hdrDate, ""}, {"Last-Modified", httpDate(mtime)}, {hdrConnection, ""}, {"ETag", etag},
			}}
		}
		b := []byte(body)
		return rawResponse{status: http.StatusOK, body: b, headers: []rawHeader{
			{"Server", server}, {hdrDate, ""}, {"Content-Type", "text/html"}, contentLength(b),
			{"Last-Modified", httpDate(mtime)}, {hdrConnection, ""}, {"ETag", etag}, {"Accept-Ranges", "bytes"},
		}}
	}
}

// nginxError is one of nginx's built-in error pages (CRLF line ends and
// all).
func nginxError(code int, title, server string) rawResponse {
	body := []byte("<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
		"</h1></center>\r\n<hr><center>" + server + "</center>\r\n</body>\r\n</html>\r\n")
	_, reason, _ := strings.Cut(title, " ")
	return rawResponse{status: code, reason: reason, body: body, headers: []rawHeader{
		{"Server", server}, {hdrDate, ""}, {"Content-Type", "text/html"}, contentLength(body), {hdrConnection, ""},
	}}
}

func userOf(r *http.Request) string {
	u, _, _ := r.BasicAuth()
	return u
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return nginxEscape(s)
}

func nginxEscape(s string) string {
	// nginx escapes quotes and non-printable bytes as \xHH.
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' || c < 0x20 || c > 0x7e {
			fmt.Fprintf(&b, "\\x%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
