package images

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// runHelloApp is gcr.io/google-samples/hello-app: plain text on $PORT
// (the image sets PORT=8080), one log line per request.
func runHelloApp(p *proc, args []string) error {
	version := defaultHelloVersion
	for i := 0; i+1 < len(args); i += 2 {
		if args[i] == "--palisade-version" {
			version = args[i+1]
		}
	}
	lg := p.goLogger()
	port := p.getenv("PORT")
	if port == "" {
		port = "8080"
	}
	lg.Printf("Server listening on port %s", port)
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		lg.Printf("listen tcp: lookup tcp/%s: unknown port", port)
		return &ExitError{Code: 1}
	}
	ls, err := p.listenTCP(p.bindHosts(), n)
	if err != nil {
		lg.Print(err)
		return &ExitError{Code: 1}
	}
	host := p.hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		lg.Printf("Serving request: %s", r.URL.Path)
		fmt.Fprintf(w, "Hello, world!\n")
		fmt.Fprintf(w, "Version: %s\n", version)
		fmt.Fprintf(w, "Hostname: %s\n", host)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Minute, ErrorLog: lg}
	return serveHTTP(p.ctx, srv, ls)
}
