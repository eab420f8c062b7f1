package images

import (
	"bytes"
	"crypto/sha1"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// jsonMockDefault is the image's /default.json.
const jsonMockDefault = `{
  "private": [
    { "id": 1, "body": "secret information" }
  ],
  "public": [
    { "id": 1, "body": "public information" }
  ]
}
`

// npmFileTime is the mtime npm gives every file it unpacks, so it is what
// json-server's static home page reports as Last-Modified.
func npmFileTime() time.Time { return time.Date(1985, 10, 26, 8, 15, 0, 0, time.UTC) }

// runJSONMock is docker.io/cilium/json-mock: json-server (Express) serving
// /default.json on $PORT or 80, with its home page at /.
func runJSONMock(p *proc, _ []string) error {
	port, ok := jsonMockPort(p.env)
	if !ok {
		fmt.Fprintf(p.stderr, "RangeError [ERR_SOCKET_BAD_PORT]: options.port should be >= 0 and < 65536. Received %q.\n", p.getenv("PORT"))
		return &ExitError{Code: 1}
	}
	db, err := newJSONDB(jsonMockDefault)
	if err != nil {
		return err
	}
	ls, err := p.listenTCP(p.bindHosts(), port)
	if err != nil {
		fmt.Fprintf(p.stderr, "Error: listen EADDRINUSE: address already in use :::%d\n", port)
		return &ExitError{Code: 1}
	}
	fmt.Fprintf(p.stdout, "\n  \\{^_^}/ hi!\n\n  Loading /default.json\n  Done\n\n  Resources\n")
	for _, c := range db.names() {
		fmt.Fprintf(p.stdout, "  http://:%d/%s\n", port, c)
	}
	fmt.Fprintf(p.stdout, "\n  Home\n  http://:%d\n\n  Type s + enter at any time to create a snapshot of the database\n  Watching...\n\n", port)

	srv := &rawServer{
		handle: func(r *http.Request, _ bool) rawResponse { return jsonMockServe(db, r) },
		badRequest: func() rawResponse {
			return rawResponse{status: http.StatusBadRequest, headers: []rawHeader{{hdrConnection, ""}}}
		},
		served: func(r *http.Request, resp rawResponse, _ int, took time.Duration) {
			length := "-"
			for _, h := range resp.headers {
				if h.name == "Content-Length" {
					length = h.value
				}
			}
			// morgan's "dev" format, without colours.
			fmt.Fprintf(p.stdout, "%s %s %d %.3f ms - %s\n", r.Method, r.URL.RequestURI(), resp.status,
				float64(took.Microseconds())/1000, length)
		},
		idle: 5 * time.Second, // Node's keepAliveTimeout
	}
	srv.serve(p.ctx, ls)
	return nil
}

// jsonMockServe answers like json-server on Express, headers in Express's
// order: cors (origin, Vary, credentials), then the route's own.
func jsonMockServe(db *jsonDB, r *http.Request) rawResponse {
	hs := []rawHeader{{"X-Powered-By", "Express"}}
	if o := r.Header.Get("Origin"); o != "" {
		hs = append(hs, rawHeader{"Access-Control-Allow-Origin", o})
	}
	hs = append(hs, rawHeader{"Vary", "Origin, Accept-Encoding"}, rawHeader{"Access-Control-Allow-Credentials", "true"})

	if strings.HasPrefix(r.URL.Path, "/auth-header-required") && r.Header.Get("Authorization") != "Bearer 123456" {
		return expressSend(r, hs, http.StatusUnauthorized, "text/html; charset=utf-8", []byte(`Invalid Authorization header, try setting it to "Bearer 123456"`))
	}
	if r.Method == http.MethodOptions {
		hs = append(hs, rawHeader{"Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE"})
		if h := r.Header.Get("Access-Control-Request-Headers"); h != "" {
			hs = append(hs, rawHeader{"Access-Control-Allow-Headers", h})
		}
		hs = append(hs, rawHeader{"Content-Length", "0"}, rawHeader{hdrDate, ""}, rawHeader{hdrConnection, ""})
		return rawResponse{status: http.StatusNoContent, headers: hs}
	}
	if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		return serveStatic(r, hs, jsonMockIndex)
	}
	// API responses are never cached.
	hs = append(hs, rawHeader{"Cache-Control", "no-cache"}, rawHeader{"Pragma", "no-cache"}, rawHeader{"Expires", "-1"},
		rawHeader{"X-Content-Type-Options", "nosniff"})
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	status, doc := db.handle(r.Method, parts, r.Body)
	return expressSend(r, hs, status, "application/json; charset=utf-8", doc)
}

// jsonMockIndex is json-server's home page: a static file (hence
// serve-static's ETag) whose script lists the resources from /db. It is
// 2109 bytes like the image's, so `curl -I` prints the same headers the
// tutorials show.
//
//go:embed jsonmock_index.html
var jsonMockIndex []byte

// expressSend is Express's res.send: weak ETag, 304 when fresh.
func expressSend(r *http.Request, hs []rawHeader, status int, ctype string, body []byte) rawResponse {
	etag := expressETag(body)
	if status < 300 && (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.Header.Get("If-None-Match") == etag {
		hs = append(hs, rawHeader{"ETag", etag}, rawHeader{hdrDate, ""}, rawHeader{hdrConnection, ""})
		return rawResponse{status: http.StatusNotModified, headers: hs}
	}
	hs = append(hs, rawHeader{"Content-Type", ctype}, contentLength(body), rawHeader{"ETag", etag},
		rawHeader{hdrDate, ""}, rawHeader{hdrConnection, ""})
	return rawResponse{status: status, headers: hs, body: body}
}

// expressETag is the etag package's weak tag for an entity body.
func expressETag(body []byte) string {
	sum := sha1.Sum(body)
	return fmt.Sprintf("W/\"%x-%s\"", len(body), base64.StdEncoding.EncodeToString(sum[:])[:27])
}

// serveStatic is serve-static's answer for a file unpacked by npm.
func serveStatic(r *http.Request, hs []rawHeader, body []byte) rawResponse {
	mtime := npmFileTime()
	etag := fmt.Sprintf("W/\"%x-%x\"", len(body), mtime.UnixMilli())
	hs = append(hs, rawHeader{"Accept-Ranges", "bytes"}, rawHeader{"Cache-Control", "public, max-age=0"},
		rawHeader{"Last-Modified", httpDate(mtime)}, rawHeader{"ETag", etag})
	if r.Header.Get("If-None-Match") == etag {
		hs = append(hs, rawHeader{hdrDate, ""}, rawHeader{hdrConnection, ""})
		return rawResponse{status: http.StatusNotModified, headers: hs}
	}
	hs = append(hs, rawHeader{"Content-Type", "text/html; charset=UTF-8"}, contentLength(body),
		rawHeader{hdrDate, ""}, rawHeader{hdrConnection, ""})
	return rawResponse{status: http.StatusOK, headers: hs, body: body}
}

// jsonDB is json-server's in-memory database: named collections of JSON
// objects, kept as raw JSON so key order survives like in JavaScript.
type jsonDB struct {
	mu    sync.Mutex
	order []string
	colls map[string][]json.RawMessage
}

func newJSONDB(src string) (*jsonDB, error) {
	db := &jsonDB{colls: map[string][]json.RawMessage{}}
	dec := json.NewDecoder(strings.NewReader(src))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var items []json.RawMessage
		if err := dec.Decode(&items); err != nil {
			return nil, err
		}
		for i, it := range items {
			var b bytes.Buffer
			if err := json.Compact(&b, it); err != nil {
				return nil, err
			}
			items[i] = b.Bytes()
		}
		name := fmt.Sprint(t)
		db.order = append(db.order, name)
		db.colls[name] = items
	}
	return db, nil
}

func (db *jsonDB) names() []string {
	db.mu.Lock()
	defer db.mu.Unlock()
	return append([]string(nil), db.order...)
}

// handle routes /db, /NAME and /NAME/ID the way json-server's router does;
// unknown routes answer 404 with {}.
func (db *jsonDB) handle(method string, parts []string, body io.Reader) (int, []byte) {
	db.mu.Lock()
	defer db.mu.Unlock()
	notFound := []byte("{}")
	read := method == http.MethodGet || method == http.MethodHead
	if len(parts) == 1 && parts[0] == "db" && read {
		return http.StatusOK, db.dump()
	}
	items, ok := db.colls[parts[0]]
	if !ok || len(parts) > 2 {
		return http.StatusNotFound, notFound
	}
	if len(parts) == 1 {
		switch {
		case read:
			return http.StatusOK, indentJSON(joinArray(items))
		case method == http.MethodPost:
			obj, err := readObject(body)
			if err != nil {
				return http.StatusInternalServerError, notFound
			}
			if _, has := objectID(obj); !has {
				obj = withID(obj, db.nextID(items))
			}
			db.colls[parts[0]] = append(items, obj)
			return http.StatusCreated, indentJSON(obj)
		}
		return http.StatusNotFound, notFound
	}
	idx := -1
	for i, it := range items {
		if id, has := objectID(it); has && id == parts[1] {
			idx = i
			break
		}
	}
	if idx < 0 {
		return http.StatusNotFound, notFound
	}
	switch method {
	case http.MethodGet, http.MethodHead:
		return http.StatusOK, indentJSON(items[idx])
	case http.MethodDelete:
		db.colls[parts[0]] = append(items[:idx:idx], items[idx+1:]...)
		return http.StatusOK, notFound
	case http.MethodPut, http.MethodPatch:
		obj, err := readObject(body)
		if err != nil {
			return http.StatusInternalServerError, notFound
		}
		if method == http.MethodPatch {
			obj = mergeObjects(items[idx], obj)
		}
		id, _ := objectIDRaw(items[idx])
		obj = withIDRaw(obj, id)
		items[idx] = obj
		return http.StatusOK, indentJSON(obj)
	}
	return http.StatusNotFound, notFound
}

func (db *jsonDB) dump() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, n := range db.order {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(n)
		b.Write(k)
		b.WriteByte(':')
		b.Write(joinArray(db.colls[n]))
	}
	b.WriteByte('}')
	return indentJSON(b.Bytes())
}

func (db *jsonDB) nextID(items []json.RawMessage) int {
	max := 0
	for _, it := range items {
		if id, has := objectID(it); has {
			if n, err := strconv.Atoi(id); err == nil && n > max {
				max = n
			}
		}
	}
	return max + 1
}

func joinArray(items []json.RawMessage) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(it)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// indentJSON is JSON.stringify(v, null, 2).
func indentJSON(compact []byte) []byte {
	var b bytes.Buffer
	if err := json.Indent(&b, compact, "", "  "); err != nil {
		return compact
	}
	return b.Bytes()
}

func readObject(r io.Reader) (json.RawMessage, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		data = []byte("{}")
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func objectIDRaw(obj json.RawMessage) (json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return nil, false
	}
	id, ok := m["id"]
	return id, ok
}

// objectID returns the id as json-server compares it with a URL segment.
func objectID(obj json.RawMessage) (string, bool) {
	raw, ok := objectIDRaw(obj)
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	return string(raw), true
}

func withID(obj json.RawMessage, id int) json.RawMessage {
	return withIDRaw(obj, json.RawMessage(strconv.Itoa(id)))
}

// withIDRaw sets "id", replacing an existing one in place or appending it
// as JavaScript property assignment does.
func withIDRaw(obj json.RawMessage, id json.RawMessage) json.RawMessage {
	if id == nil {
		return obj
	}
	return mergeObjects(obj, json.RawMessage(`{"id":`+string(id)+`}`))
}

// mergeObjects overlays patch's keys on base, keeping base's key order.
func mergeObjects(base, patch json.RawMessage) json.RawMessage {
	keys, vals := orderedObject(base)
	pk, pv := orderedObject(patch)
	for i, k := range pk {
		found := false
		for j := range keys {
			if keys[j] == k {
				vals[j] = pv[i]
				found = true
			}
		}
		if !found {
			keys = append(keys, k)
			vals = append(vals, pv[i])
		}
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vals[i])
	}
	b.WriteByte('}')
	return b.Bytes()
}

func orderedObject(obj json.RawMessage) ([]string, []json.RawMessage) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil
	}
	var keys []string
	var vals []json.RawMessage
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return keys, vals
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return keys, vals
		}
		keys = append(keys, fmt.Sprint(t))
		vals = append(vals, v)
	}
	return keys, vals
}
