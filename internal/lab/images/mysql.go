package images

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// MySQL protocol capability flags the emulated server announces. SSL and
// compression are left out so clients never ask for them.
const (
	capLongPassword     = 1 << 0
	capFoundRows        = 1 << 1
	capLongFlag         = 1 << 2
	capConnectWithDB    = 1 << 3
	capNoSchema         = 1 << 4
	capODBC             = 1 << 6
	capIgnoreSpace      = 1 << 8
	capProtocol41       = 1 << 9
	capInteractive      = 1 << 10
	capSSL              = 1 << 11
	capIgnoreSigpipe    = 1 << 12
	capTransactions     = 1 << 13
	capReserved         = 1 << 14
	capSecureConnection = 1 << 15
	capMultiStatements  = 1 << 16
	capMultiResults     = 1 << 17
	capPSMultiResults   = 1 << 18
	capPluginAuth       = 1 << 19
	capConnectAttrs     = 1 << 20
	capPluginAuthLenenc = 1 << 21
)

const (
	pluginNative = "mysql_native_password"
	pluginSHA2   = "caching_sha2_password"
)

// mysqldPort reads mysqld's --port / -P option; 3306 otherwise.
func mysqldPort(args []string) (int, bool) {
	port := "3306"
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--port" || a == "-P":
			if i+1 < len(args) {
				port = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "--port="):
			port = strings.TrimPrefix(a, "--port=")
		case strings.HasPrefix(a, "-P") && len(a) > 2:
			port = a[2:]
		}
	}
	n, err := strconv.Atoi(port)
	if err == nil && n == 0 {
		// mysqld: port 0 means the built-in default.
		n = 3306
	}
	return n, err == nil && n > 0 && n < 65536
}

type mysqlServer struct {
	mariadb  bool
	version  string // as logged: 11.4.2-MariaDB-ubu2404, 8.4.3
	wire     string // as sent in the handshake (MariaDB 10 adds "5.5.5-")
	plugin   string
	charset  byte
	accounts map[string]mysqlCredential
	dbs      map[string]bool
	connID   atomic.Uint32
	started  time.Time
	queries  atomic.Uint64
	p        *proc
}

// mysqlCredential holds what the server knows of a password: the plain text
// (from the env) or only the SHA1(SHA1()) stage-2 hash (MARIADB_*_HASH).
type mysqlCredential struct {
	plain    string
	hasPlain bool
	stage2   []byte
}

func (c mysqlCredential) empty() bool { return c.hasPlain && c.plain == "" }

// runMySQL emulates the mariadb and mysql images: the entrypoint's password
// checks, then a server that speaks the MySQL protocol far enough for
// clients to connect, log in and ping. Queries get an error saying they are
// not emulated.
func runMySQL(p *proc, args []string) error {
	flavor, version := "mariadb", defaultMariaDBVersion
	var rest []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--palisade-flavor", "--palisade-version":
			if i+1 >= len(args) {
				return fmt.Errorf("mysql: %s needs a value", args[i])
			}
			if args[i] == "--palisade-flavor" {
				flavor = args[i+1]
			} else {
				version = args[i+1]
			}
			i++
		default:
			rest = append(rest, args[i])
		}
	}
	port, ok := mysqldPort(rest)
	if !ok {
		fmt.Fprintf(p.stderr, "%s 0 [ERROR] mysqld: Error while setting value '%s' to 'port'\n", time.Now().Format("2006-01-02 15:04:05"), strings.Join(rest, " "))
		return &ExitError{Code: 1}
	}
	s := &mysqlServer{mariadb: flavor == "mariadb", started: time.Now(), p: p}
	s.connID.Store(2)
	if s.mariadb {
		s.version = version + "-MariaDB-ubu2404"
		s.wire = s.version
		if major, _, _ := strings.Cut(version, "."); major == "10" || major == "5" {
			// MariaDB before 11.0.1 prefixes its version for old replicas.
			s.wire = "5.5.5-" + s.version
		}
		s.plugin, s.charset = pluginNative, 45
	} else {
		s.version, s.wire = version, version
		s.plugin, s.charset = pluginSHA2, 255
		if strings.HasPrefix(version, "5.") {
			s.plugin, s.charset = pluginNative, 8
		}
	}
	if err := s.entrypoint(); err != nil {
		return err
	}

	ls, err := p.listenTCP(p.bindHosts(), port)
	if err != nil {
		s.serverLog("ERROR", fmt.Sprintf("Can't start server: Bind on TCP/IP port. Got error: %v", err))
		return &ExitError{Code: 1}
	}
	for _, l := range ls {
		host, _, _ := net.SplitHostPort(l.Addr().String())
		if host == "::" {
			s.serverLog("Note", "Server socket created on IP: '0.0.0.0'.")
		}
		s.serverLog("Note", fmt.Sprintf("Server socket created on IP: '%s'.", host))
	}
	if s.mariadb {
		s.serverLog("Note", "mariadbd: ready for connections.")
		fmt.Fprintf(p.stderr, "Version: '%s'  socket: '/run/mysqld/mysqld.sock'  port: %d  mariadb.org binary distribution\n", s.version, port)
	} else {
		s.serverLog("System", fmt.Sprintf("/usr/sbin/mysqld: ready for connections. Version: '%s'  socket: '/var/run/mysqld/mysqld.sock'  port: %d  MySQL Community Server - GPL.", s.version, port))
	}

	serveConns(p.ctx, ls, func(c net.Conn) {
		s.serve(c)
		_ = c.Close()
	})
	if s.mariadb {
		s.serverLog("Note", "mariadbd (initiated by: unknown): Normal shutdown")
		s.serverLog("Note", "mariadbd: Shutdown complete")
	} else {
		s.serverLog("System", "/usr/sbin/mysqld: Shutdown complete (mysqld "+s.version+")  MySQL Community Server - GPL.")
	}
	return nil
}

// entrypoint does what docker-entrypoint.sh checks before the first start
// and builds the accounts it would create.
func (s *mysqlServer) entrypoint() error {
	p := s.p
	now := func() string { return time.Now().UTC().Format("2006-01-02 15:04:05+00:00") }
	note := func(msg string) { fmt.Fprintf(p.stdout, "%s [Note] [Entrypoint]: %s\n", now(), msg) }
	// The mariadb image accepts MYSQL_* names as aliases of MARIADB_*.
	get := func(name string) (string, bool, error) {
		names := []string{"MYSQL_" + name}
		if s.mariadb {
			names = []string{"MARIADB_" + name, "MYSQL_" + name}
		}
		for _, n := range names {
			if v, ok := getenv(p.env, n); ok && v != "" {
				return v, true, nil
			}
			if f, ok := getenv(p.env, n+"_FILE"); ok && f != "" {
				b, err := os.ReadFile(f)
				if err != nil {
					return "", false, fmt.Errorf("%s: %v", n+"_FILE", err)
				}
				return strings.TrimRight(string(b), "\n"), true, nil
			}
		}
		return "", false, nil
	}
	product := "MySQL"
	if s.mariadb {
		product = "MariaDB"
		note(fmt.Sprintf("Entrypoint script for MariaDB Server 1:%s+maria~ubu2404 started.", strings.TrimSuffix(s.version, "-MariaDB-ubu2404")))
	} else {
		note(fmt.Sprintf("Entrypoint script for MySQL Server %s-1.el9 started.", s.version))
	}
	rootPW, hasRoot, err := get("ROOT_PASSWORD")
	if err != nil {
		fmt.Fprintf(p.stderr, "%s [ERROR] [Entrypoint]: %v\n", now(), err)
		return &ExitError{Code: 1}
	}
	rootHash, hasHash := "", false
	if s.mariadb {
		rootHash, hasHash, _ = get("ROOT_PASSWORD_HASH")
	}
	_, allowEmpty, _ := get("ALLOW_EMPTY_ROOT_PASSWORD")
	if !s.mariadb {
		_, allowEmpty, _ = get("ALLOW_EMPTY_PASSWORD")
	}
	_, random, _ := get("RANDOM_ROOT_PASSWORD")
	if !hasRoot && !hasHash && !allowEmpty && !random {
		if s.mariadb {
			fmt.Fprintf(p.stderr, "%s [ERROR] [Entrypoint]: Database is uninitialized and password option is not specified\n\tYou need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_HASH, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD\n", now())
		} else {
			fmt.Fprintf(p.stderr, "%s [ERROR] [Entrypoint]: Database is uninitialized and password option is not specified\n    You need to specify one of the following as an environment variable:\n    - MYSQL_ROOT_PASSWORD\n    - MYSQL_ALLOW_EMPTY_PASSWORD\n    - MYSQL_RANDOM_ROOT_PASSWORD\n", now())
		}
		return &ExitError{Code: 1}
	}
	s.accounts = map[string]mysqlCredential{}
	switch {
	case hasRoot:
		s.accounts["root"] = plainCredential(rootPW)
	case hasHash:
		st, err := parseNativeHash(rootHash)
		if err != nil {
			fmt.Fprintf(p.stderr, "%s [ERROR] [Entrypoint]: MARIADB_ROOT_PASSWORD_HASH: %v\n", now(), err)
			return &ExitError{Code: 1}
		}
		s.accounts["root"] = mysqlCredential{stage2: st}
	case random:
		pw := randomPassword()
		fmt.Fprintf(p.stdout, "%s [Note] [Entrypoint]: GENERATED ROOT PASSWORD: %s\n", now(), pw)
		s.accounts["root"] = plainCredential(pw)
	default:
		s.accounts["root"] = plainCredential("")
	}
	s.dbs = map[string]bool{"mysql": true, "information_schema": true, "performance_schema": true, "sys": true}
	if db, ok, _ := get("DATABASE"); ok {
		s.dbs[db] = true
		note(fmt.Sprintf("Creating database %s", db))
	}
	if user, ok, _ := get("USER"); ok && user != "root" {
		pw, _, _ := get("PASSWORD")
		cred := plainCredential(pw)
		if h, ok, _ := get("PASSWORD_HASH"); s.mariadb && ok {
			if st, err := parseNativeHash(h); err == nil {
				cred = mysqlCredential{stage2: st}
			}
		}
		s.accounts[user] = cred
		note(fmt.Sprintf("Creating user %s", user))
	}
	note(product + " init process done. Ready for start up.")
	if s.mariadb {
		s.serverLog("Note", fmt.Sprintf("Starting MariaDB %s source revision  server_uid  as process %d", s.version, os.Getpid()))
	} else {
		s.serverLog("System", fmt.Sprintf("/usr/sbin/mysqld (mysqld %s) starting as process %d", s.version, os.Getpid()))
	}
	return nil
}

func (s *mysqlServer) serverLog(level, msg string) {
	if s.mariadb {
		fmt.Fprintf(s.p.stderr, "%s 0 [%s] %s\n", time.Now().Format("2006-01-02 15:04:05"), level, msg)
		return
	}
	code := map[string]string{"System": "MY-010931", "Warning": "MY-010055", "ERROR": "MY-010273", "Note": "MY-010000"}[level]
	fmt.Fprintf(s.p.stderr, "%s 0 [%s] [%s] [Server] %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"), level, code, msg)
}

func plainCredential(pw string) mysqlCredential {
	return mysqlCredential{plain: pw, hasPlain: true, stage2: nativeStage2(pw)}
}

func nativeStage2(pw string) []byte {
	s1 := sha1.Sum([]byte(pw))
	s2 := sha1.Sum(s1[:])
	return s2[:]
}

// parseNativeHash reads PASSWORD()'s "*HEX" format.
func parseNativeHash(h string) ([]byte, error) {
	if len(h) != 41 || h[0] != '*' {
		return nil, errors.New("not a mysql_native_password hash (*40 hex digits)")
	}
	return hex.DecodeString(h[1:])
}

func randomPassword() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

// mysqlConn frames MySQL packets: 3-byte little-endian length, sequence id.
type mysqlConn struct {
	c   net.Conn
	seq byte
}

const maxMySQLPacket = 1 << 24

func (m *mysqlConn) readPacket() ([]byte, error) {
	var payload []byte
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(m.c, hdr[:]); err != nil {
			return nil, err
		}
		n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
		m.seq = hdr[3] + 1
		if len(payload)+n > maxMySQLPacket {
			return nil, errors.New("packet too large")
		}
		start := len(payload)
		payload = append(payload, make([]byte, n)...)
		if _, err := io.ReadFull(m.c, payload[start:]); err != nil {
			return nil, err
		}
		if n < 0xffffff {
			return payload, nil
		}
	}
}

func (m *mysqlConn) writePacket(payload []byte) error {
	buf := make([]byte, 4, 4+len(payload))
	buf[0], buf[1], buf[2], buf[3] = byte(len(payload)), byte(len(payload)>>8), byte(len(payload)>>16), m.seq
	m.seq++
	_, err := m.c.Write(append(buf, payload...))
	return err
}

func (m *mysqlConn) writeOK() error {
	return m.writePacket([]byte{0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00})
}

func (m *mysqlConn) writeErr(code uint16, state, msg string) error {
	b := []byte{0xff, byte(code), byte(code >> 8), '#'}
	b = append(b, state...)
	return m.writePacket(append(b, msg...))
}

func (s *mysqlServer) caps() uint32 {
	c := uint32(capFoundRows | capLongFlag | capConnectWithDB | capNoSchema | capODBC | capIgnoreSpace |
		capProtocol41 | capInteractive | capIgnoreSigpipe | capTransactions | capReserved | capSecureConnection |
		capMultiStatements | capMultiResults | capPSMultiResults | capPluginAuth | capConnectAttrs | capPluginAuthLenenc)
	if !s.mariadb {
		// MariaDB clears CLIENT_LONG_PASSWORD (CLIENT_MYSQL) to announce its
		// extended capabilities; MySQL sets it.
		c |= capLongPassword
	}
	return c
}

// greeting builds the protocol v10 initial handshake packet.
func (s *mysqlServer) greeting(id uint32, scramble []byte) []byte {
	caps := s.caps()
	var b bytes.Buffer
	b.WriteByte(10)
	b.WriteString(s.wire)
	b.WriteByte(0)
	_ = binary.Write(&b, binary.LittleEndian, id)
	b.Write(scramble[:8])
	b.WriteByte(0)
	_ = binary.Write(&b, binary.LittleEndian, uint16(caps))
	b.WriteByte(s.charset)
	_ = binary.Write(&b, binary.LittleEndian, uint16(0x0002)) // SERVER_STATUS_AUTOCOMMIT
	_ = binary.Write(&b, binary.LittleEndian, uint16(caps>>16))
	b.WriteByte(byte(len(scramble) + 1))
	b.Write(make([]byte, 10)) // reserved (MariaDB: 6 + 4 bytes of extended capabilities, none)
	b.Write(scramble[8:])
	b.WriteByte(0)
	b.WriteString(s.plugin)
	b.WriteByte(0)
	return b.Bytes()
}

// handshakeResponse is the client's HandshakeResponse41.
type handshakeResponse struct {
	caps   uint32
	user   string
	auth   []byte
	db     string
	plugin string
}

func parseHandshakeResponse(b []byte) (handshakeResponse, error) {
	var r handshakeResponse
	bad := errors.New("bad handshake")
	if len(b) < 32 {
		return r, bad
	}
	r.caps = binary.LittleEndian.Uint32(b)
	if r.caps&capProtocol41 == 0 {
		return r, errors.New("old client protocol")
	}
	rest := b[32:]
	cstr := func() (string, bool) {
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			return "", false
		}
		s := string(rest[:i])
		rest = rest[i+1:]
		return s, true
	}
	var ok bool
	if r.user, ok = cstr(); !ok {
		return r, bad
	}
	switch {
	case r.caps&capPluginAuthLenenc != 0:
		n, w := lenencInt(rest)
		if w == 0 || uint64(len(rest)-w) < n {
			return r, bad
		}
		r.auth = rest[w : w+int(n)]
		rest = rest[w+int(n):]
	case r.caps&capSecureConnection != 0:
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return r, bad
		}
		r.auth = rest[1 : 1+int(rest[0])]
		rest = rest[1+int(rest[0]):]
	default:
		a, ok := cstr()
		if !ok {
			return r, bad
		}
		r.auth = []byte(a)
	}
	if r.caps&capConnectWithDB != 0 && len(rest) > 0 {
		r.db, _ = cstr()
	}
	if r.caps&capPluginAuth != 0 && len(rest) > 0 {
		r.plugin, _ = cstr()
	}
	return r, nil
}

// lenencInt decodes a length-encoded integer; width 0 means malformed.
func lenencInt(b []byte) (uint64, int) {
	if len(b) == 0 {
		return 0, 0
	}
	switch b[0] {
	case 0xfc:
		if len(b) < 3 {
			return 0, 0
		}
		return uint64(binary.LittleEndian.Uint16(b[1:])), 3
	case 0xfd:
		if len(b) < 4 {
			return 0, 0
		}
		return uint64(b[1]) | uint64(b[2])<<8 | uint64(b[3])<<16, 4
	case 0xfe:
		if len(b) < 9 {
			return 0, 0
		}
		return binary.LittleEndian.Uint64(b[1:]), 9
	case 0xfb, 0xff:
		return 0, 0
	}
	return uint64(b[0]), 1
}

func (s *mysqlServer) serve(c net.Conn) {
	m := &mysqlConn{c: c}
	host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	id := s.connID.Add(1)
	scramble := make([]byte, 20)
	_, _ = rand.Read(scramble)
	for i := range scramble {
		// Scramble bytes are printable and never NUL, like the server's.
		scramble[i] = 0x21 + scramble[i]%0x5e
	}
	// connect_timeout: a client that stays silent is dropped after 10s.
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := m.writePacket(s.greeting(id, scramble)); err != nil {
		return
	}
	pkt, err := m.readPacket()
	if err != nil {
		return
	}
	hr, err := parseHandshakeResponse(pkt)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return
		}
		_ = m.writeErr(1043, "08S01", "Bad handshake")
		return
	}
	plugin := hr.plugin
	if plugin == "" {
		plugin = s.plugin
	}
	auth := hr.auth
	if plugin != pluginNative && plugin != pluginSHA2 {
		// Ask the client to switch to the server's default method.
		sw := append([]byte{0xfe}, s.plugin...)
		sw = append(append(append(sw, 0), scramble...), 0)
		if err := m.writePacket(sw); err != nil {
			return
		}
		if auth, err = m.readPacket(); err != nil {
			return
		}
		plugin = s.plugin
	}
	cred, known := s.accounts[hr.user]
	if !known || !verifyMySQLAuth(plugin, auth, scramble, cred) {
		usingPW := "NO"
		if len(emptyAuth(auth)) > 0 {
			usingPW = "YES"
		}
		msg := fmt.Sprintf("Access denied for user '%s'@'%s' (using password: %s)", hr.user, host, usingPW)
		s.serverLog("Warning", fmt.Sprintf("Access denied for user '%s'@'%s' (using password: %s)", hr.user, host, usingPW))
		_ = m.writeErr(1045, "28000", msg)
		return
	}
	if plugin == pluginSHA2 && !cred.empty() {
		// fast_auth_success
		if err := m.writePacket([]byte{0x01, 0x03}); err != nil {
			return
		}
	}
	if hr.db != "" && !s.dbs[hr.db] {
		_ = m.writeErr(1049, "42000", fmt.Sprintf("Unknown database '%s'", hr.db))
		return
	}
	if err := m.writeOK(); err != nil {
		return
	}
	for {
		// wait_timeout
		_ = c.SetDeadline(time.Now().Add(8 * time.Hour))
		cmd, err := m.readPacket()
		if err != nil || len(cmd) == 0 {
			return
		}
		switch cmd[0] {
		case 0x01: // COM_QUIT
			return
		case 0x02: // COM_INIT_DB
			if db := string(cmd[1:]); !s.dbs[db] {
				err = m.writeErr(1049, "42000", fmt.Sprintf("Unknown database '%s'", db))
			} else {
				err = m.writeOK()
			}
		case 0x03: // COM_QUERY
			s.queries.Add(1)
			err = m.writeErr(1105, "HY000", "palisade lab: this emulated server accepts connections, logins and pings but does not run queries")
		case 0x09: // COM_STATISTICS
			err = m.writePacket([]byte(fmt.Sprintf("Uptime: %d  Threads: 1  Questions: %d  Slow queries: 0  Opens: 0  Open tables: 0  Queries per second avg: 0.000",
				int(time.Since(s.started).Seconds()), s.queries.Load())))
		case 0x0e, 0x1f: // COM_PING, COM_RESET_CONNECTION
			err = m.writeOK()
		default:
			err = m.writeErr(1047, "08S01", "Unknown command")
		}
		if err != nil {
			return
		}
	}
}

// verifyMySQLAuth checks a client's scrambled password.
func verifyMySQLAuth(plugin string, auth, scramble []byte, cred mysqlCredential) bool {
	auth = emptyAuth(auth)
	if cred.empty() {
		return len(auth) == 0
	}
	if len(auth) == 0 {
		return false
	}
	switch plugin {
	case pluginNative:
		// auth = SHA1(pw) XOR SHA1(scramble + stage2); SHA1(SHA1(pw)) = stage2.
		if len(auth) != sha1.Size || len(cred.stage2) != sha1.Size {
			return false
		}
		h := sha1.New()
		h.Write(scramble)
		h.Write(cred.stage2)
		mask := h.Sum(nil)
		stage1 := make([]byte, sha1.Size)
		for i := range stage1 {
			stage1[i] = auth[i] ^ mask[i]
		}
		got := sha1.Sum(stage1)
		return subtle.ConstantTimeCompare(got[:], cred.stage2) == 1
	case pluginSHA2:
		if !cred.hasPlain {
			return false
		}
		return subtle.ConstantTimeCompare(auth, sha2Scramble(cred.plain, scramble)) == 1
	}
	return false
}

// emptyAuth normalises the lone NUL some clients send for "no password".
// Only that: a scrambled password is binary and may itself end in 0x00.
func emptyAuth(auth []byte) []byte {
	if len(auth) == 1 && auth[0] == 0 {
		return nil
	}
	return auth
}

// sha2Scramble is caching_sha2_password's fast-auth response:
// SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble).
func sha2Scramble(pw string, scramble []byte) []byte {
	m1 := sha256.Sum256([]byte(pw))
	m1h := sha256.Sum256(m1[:])
	h := sha256.New()
	h.Write(m1h[:])
	h.Write(scramble)
	m2 := h.Sum(nil)
	out := make([]byte, len(m1))
	for i := range m1 {
		out[i] = m1[i] ^ m2[i]
	}
	return out
}
