package images

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// greetingInfo is what a client reads from the initial handshake.
type greetingInfo struct {
	protocol byte
	version  string
	connID   uint32
	caps     uint32
	charset  byte
	scramble []byte
	plugin   string
}

func readMySQLPacket(t *testing.T, c net.Conn) (byte, []byte) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatalf("reading packet header: %v", err)
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("reading packet: %v", err)
	}
	return hdr[3], b
}

func writeMySQLPacket(t *testing.T, c net.Conn, seq byte, payload []byte) {
	t.Helper()
	hdr := []byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), seq}
	if _, err := c.Write(append(hdr, payload...)); err != nil {
		t.Fatal(err)
	}
}

func parseGreeting(t *testing.T, b []byte) greetingInfo {
	t.Helper()
	var g greetingInfo
	g.protocol = b[0]
	end := bytes.IndexByte(b[1:], 0)
	g.version = string(b[1 : 1+end])
	r := b[2+end:]
	g.connID = binary.LittleEndian.Uint32(r)
	g.scramble = append(g.scramble, r[4:12]...)
	if r[12] != 0 {
		t.Errorf("filler byte %d", r[12])
	}
	g.caps = uint32(binary.LittleEndian.Uint16(r[13:]))
	g.charset = r[15]
	g.caps |= uint32(binary.LittleEndian.Uint16(r[18:])) << 16
	authLen := int(r[20])
	rest := r[31:]
	part2 := max(13, authLen-8)
	g.scramble = append(g.scramble, rest[:part2-1]...) // the last byte is NUL
	rest = rest[part2:]
	g.plugin = string(bytes.TrimRight(rest, "\x00"))
	return g
}

func nativeScramble(pw string, scramble []byte) []byte {
	if pw == "" {
		return nil
	}
	s1 := sha1.Sum([]byte(pw))
	s2 := sha1.Sum(s1[:])
	h := sha1.New()
	h.Write(scramble)
	h.Write(s2[:])
	m := h.Sum(nil)
	for i := range m {
		m[i] ^= s1[i]
	}
	return m
}

// mysqlLogin connects, checks the greeting and logs in; it returns the
// connection (nil if the server refused the login), the greeting and the
// final reply.
func mysqlLogin(t *testing.T, addr, user, pw, db, plugin string) (net.Conn, greetingInfo, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	seq, b := readMySQLPacket(t, c)
	if seq != 0 {
		t.Errorf("greeting sequence id %d", seq)
	}
	g := parseGreeting(t, b)
	if plugin == "" {
		plugin = g.plugin
	}
	var auth []byte
	if plugin == pluginSHA2 && pw != "" {
		auth = sha2Scramble(pw, g.scramble)
	} else {
		auth = nativeScramble(pw, g.scramble)
	}
	caps := uint32(capProtocol41 | capSecureConnection | capPluginAuth | capLongFlag)
	if db != "" {
		caps |= capConnectWithDB
	}
	var resp bytes.Buffer
	_ = binary.Write(&resp, binary.LittleEndian, caps)
	_ = binary.Write(&resp, binary.LittleEndian, uint32(1<<24))
	resp.WriteByte(45)
	resp.Write(make([]byte, 23))
	resp.WriteString(user)
	resp.WriteByte(0)
	resp.WriteByte(byte(len(auth)))
	resp.Write(auth)
	if db != "" {
		resp.WriteString(db)
		resp.WriteByte(0)
	}
	resp.WriteString(plugin)
	resp.WriteByte(0)
	writeMySQLPacket(t, c, 1, resp.Bytes())
	seq, reply := readMySQLPacket(t, c)
	if len(reply) > 0 && reply[0] == 0xfe {
		// AuthSwitchRequest: plugin name, NUL, new scramble, NUL.
		name, data, _ := bytes.Cut(reply[1:], []byte{0})
		data = bytes.TrimRight(data, "\x00")
		if string(name) != pluginNative {
			t.Fatalf("switch to %q", name)
		}
		writeMySQLPacket(t, c, seq+1, nativeScramble(pw, data))
		_, reply = readMySQLPacket(t, c)
	}
	if bytes.Equal(reply, []byte{0x01, 0x03}) {
		_, reply = readMySQLPacket(t, c)
	}
	if reply[0] != 0x00 {
		_ = c.Close()
		return nil, g, reply
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, g, reply
}

func mysqlCommand(t *testing.T, c net.Conn, cmd byte, arg string) []byte {
	t.Helper()
	writeMySQLPacket(t, c, 0, append([]byte{cmd}, arg...))
	seq, b := readMySQLPacket(t, c)
	if seq != 1 {
		t.Errorf("reply sequence id %d, want 1", seq)
	}
	return b
}

func errCode(b []byte) int {
	if len(b) < 3 || b[0] != 0xff {
		return 0
	}
	return int(binary.LittleEndian.Uint16(b[1:]))
}

func TestMariaDB(t *testing.T) {
	port := freePort(t)
	r := start(t, BuiltinMySQL, []string{"--palisade-flavor", "mariadb", "--palisade-version", "11.4.2", fmt.Sprintf("--port=%d", port)},
		[]string{"MARIADB_ROOT_PASSWORD=secret", "MARIADB_DATABASE=app", "MARIADB_USER=appuser", "MYSQL_PASSWORD=apppw"})
	addr := hostPort("127.0.0.1", port)
	r.waitTCP(t, addr)

	c, g, reply := mysqlLogin(t, addr, "root", "secret", "", "")
	if c == nil {
		t.Fatalf("root login refused: %q", reply)
	}
	if g.protocol != 10 || g.version != "11.4.2-MariaDB-ubu2404" || g.plugin != pluginNative || len(g.scramble) != 20 {
		t.Errorf("greeting %+v", g)
	}
	if g.caps&capProtocol41 == 0 || g.caps&capSSL != 0 || g.caps&capLongPassword != 0 {
		t.Errorf("capabilities %#x", g.caps)
	}
	if got := mysqlCommand(t, c, 0x0e, ""); got[0] != 0x00 {
		t.Errorf("COM_PING: %q", got)
	}
	if got := mysqlCommand(t, c, 0x03, "SELECT 1"); errCode(got) != 1105 || !bytes.Contains(got, []byte("does not run queries")) {
		t.Errorf("COM_QUERY: %q", got)
	}
	if got := mysqlCommand(t, c, 0x02, "app"); got[0] != 0x00 {
		t.Errorf("COM_INIT_DB app: %q", got)
	}
	if got := mysqlCommand(t, c, 0x02, "nope"); errCode(got) != 1049 {
		t.Errorf("COM_INIT_DB nope: %q", got)
	}
	if got := mysqlCommand(t, c, 0x09, ""); !bytes.HasPrefix(got, []byte("Uptime: ")) {
		t.Errorf("COM_STATISTICS: %q", got)
	}
	if got := mysqlCommand(t, c, 0x1b, ""); errCode(got) != 1047 {
		t.Errorf("unknown command: %q", got)
	}

	if c, _, reply := mysqlLogin(t, addr, "root", "wrong", "", ""); c != nil || errCode(reply) != 1045 ||
		!strings.Contains(string(reply), "Access denied for user 'root'@'127.0.0.1' (using password: YES)") {
		t.Errorf("wrong password: %q", reply)
	}
	if c, _, reply := mysqlLogin(t, addr, "root", "", "", ""); c != nil || !strings.Contains(string(reply), "(using password: NO)") {
		t.Errorf("empty password: %q", reply)
	}
	if c, _, reply := mysqlLogin(t, addr, "appuser", "apppw", "app", ""); c == nil {
		t.Errorf("app user login: %q", reply)
	}
	if c, _, reply := mysqlLogin(t, addr, "appuser", "apppw", "other", ""); c != nil || errCode(reply) != 1049 {
		t.Errorf("unknown database: %q", reply)
	}
	// A port scan (nc -z) must not upset the server.
	if nc, err := net.Dial("tcp", addr); err == nil {
		_ = nc.Close()
	}
	if c, _, reply := mysqlLogin(t, addr, "root", "secret", "", "some_plugin"); c == nil {
		t.Errorf("login after an auth switch: %q", reply)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mariadbd: ready for connections.", "Version: '11.4.2-MariaDB-ubu2404'", fmt.Sprintf("port: %d", port),
		"Access denied for user 'root'@'127.0.0.1'"} {
		if !strings.Contains(r.stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if !strings.Contains(r.stdout.String(), "MariaDB init process done. Ready for start up.") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}

func TestMySQLFlavors(t *testing.T) {
	t.Run("mariadb 10 prefix", func(t *testing.T) {
		port := freePort(t)
		r := start(t, BuiltinMySQL, []string{"--palisade-flavor", "mariadb", "--palisade-version", "10.6.18", "--port", fmt.Sprint(port)},
			[]string{"MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1"})
		addr := hostPort("127.0.0.1", port)
		r.waitTCP(t, addr)
		c, g, reply := mysqlLogin(t, addr, "root", "", "", "")
		if c == nil {
			t.Errorf("empty root password refused: %q", reply)
		}
		if g.version != "5.5.5-10.6.18-MariaDB-ubu2404" {
			t.Errorf("version %q", g.version)
		}
	})
	t.Run("mysql 8 caching_sha2", func(t *testing.T) {
		port := freePort(t)
		r := start(t, BuiltinMySQL, []string{"--palisade-flavor", "mysql", "--palisade-version", "8.4.3", "-P", fmt.Sprint(port)},
			[]string{"MYSQL_ROOT_PASSWORD=pw"})
		addr := hostPort("127.0.0.1", port)
		r.waitTCP(t, addr)
		c, g, reply := mysqlLogin(t, addr, "root", "pw", "", "")
		if c == nil {
			t.Fatalf("sha2 login refused: %q", reply)
		}
		if g.version != "8.4.3" || g.plugin != pluginSHA2 || g.charset != 255 || g.caps&capLongPassword == 0 {
			t.Errorf("greeting %+v", g)
		}
		if c, _, reply := mysqlLogin(t, addr, "root", "pw", "", pluginNative); c == nil {
			t.Errorf("native login refused: %q", reply)
		}
		if c, _, reply := mysqlLogin(t, addr, "root", "nope", "", ""); c != nil || errCode(reply) != 1045 {
			t.Errorf("wrong sha2 password: %q", reply)
		}
		if err := r.stop(t); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.stderr.String(), "/usr/sbin/mysqld: ready for connections. Version: '8.4.3'") {
			t.Errorf("stderr:\n%s", r.stderr)
		}
	})
	for _, flavor := range []string{"mariadb", "mysql"} {
		t.Run(flavor+" without password", func(t *testing.T) {
			r := start(t, BuiltinMySQL, []string{"--palisade-flavor", flavor, "--port", fmt.Sprint(freePort(t))}, nil)
			if code := exitCode(r.wait(t, 5*time.Second)); code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if !strings.Contains(r.stderr.String(), "Database is uninitialized and password option is not specified") {
				t.Errorf("stderr:\n%s", r.stderr)
			}
		})
	}
	t.Run("root password hash", func(t *testing.T) {
		port := freePort(t)
		// PASSWORD('hashed') in MariaDB.
		s2 := nativeStage2("hashed")
		r := start(t, BuiltinMySQL, []string{"--palisade-flavor", "mariadb", "--port", fmt.Sprint(port)},
			[]string{fmt.Sprintf("MARIADB_ROOT_PASSWORD_HASH=*%X", s2)})
		addr := hostPort("127.0.0.1", port)
		r.waitTCP(t, addr)
		if c, _, reply := mysqlLogin(t, addr, "root", "hashed", "", ""); c == nil {
			t.Errorf("hash login refused: %q", reply)
		}
	})
}

func TestMysqldPort(t *testing.T) {
	cases := []struct {
		args []string
		port int
		ok   bool
	}{
		{nil, 3306, true},
		{[]string{"--port=3307"}, 3307, true},
		{[]string{"--port", "3308", "--verbose"}, 3308, true},
		{[]string{"-P3309"}, 3309, true},
		{[]string{"-P", "3310"}, 3310, true},
		{[]string{"--port=x"}, 0, false},
		{[]string{"--character-set-server=utf8mb4"}, 3306, true},
	}
	for _, tc := range cases {
		port, ok := mysqldPort(tc.args)
		if ok != tc.ok || (ok && port != tc.port) {
			t.Errorf("mysqldPort(%q) = %d, %v", tc.args, port, ok)
		}
	}
}

// TestVerifyMySQLAuthBinary checks scrambles that end in a zero byte, which
// a NUL-trimming comparison would reject once in 256 logins.
func TestVerifyMySQLAuthBinary(t *testing.T) {
	cred := plainCredential("secret")
	found := 0
	for i := 0; i < 5000 && found < 3; i++ {
		scramble := []byte(fmt.Sprintf("%020d", i))
		for _, plugin := range []string{pluginNative, pluginSHA2} {
			var auth []byte
			if plugin == pluginNative {
				auth = nativeScramble("secret", scramble)
			} else {
				auth = sha2Scramble("secret", scramble)
			}
			if auth[len(auth)-1] != 0 {
				continue
			}
			found++
			if !verifyMySQLAuth(plugin, auth, scramble, cred) {
				t.Errorf("%s scramble ending in 0x00 rejected (scramble %q)", plugin, scramble)
			}
		}
	}
	if found == 0 {
		t.Fatal("no scramble ending in 0x00 found")
	}
	if !verifyMySQLAuth(pluginNative, []byte{0}, nil, plainCredential("")) || verifyMySQLAuth(pluginNative, []byte{0}, nil, cred) {
		t.Error("a lone NUL must mean an empty password")
	}
}
