package nflog

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// packetMsg builds one NFULNL_MSG_PACKET netlink message the way the
// kernel lays it out.
type packetMsg struct {
	group   uint16
	prefix  string
	hook    uint8
	seq     *uint32
	stamp   *time.Time
	indev   uint32
	payload []byte
	noPad   bool // leave the message unpadded, as the last of a datagram may be
}

func (m packetMsg) bytes() []byte {
	b := make([]byte, nlmsgHdrLen+nfgenHdrLen)
	binary.NativeEndian.PutUint16(b[4:6], msgPacket)
	b[16] = unix.AF_INET
	binary.BigEndian.PutUint16(b[18:20], m.group)
	b = appendAttr(b, attrPacketHW, []byte{0x08, 0x00, m.hook, 0})
	if m.indev != 0 {
		b = appendAttr(b, attrInDev, binary.BigEndian.AppendUint32(nil, m.indev))
	}
	if m.stamp != nil {
		v := binary.BigEndian.AppendUint64(nil, uint64(m.stamp.Unix()))
		v = binary.BigEndian.AppendUint64(v, uint64(m.stamp.Nanosecond()/1000))
		b = appendAttr(b, attrTime, v)
	}
	if m.prefix != "" {
		b = appendAttr(b, attrPrefix, append([]byte(m.prefix), 0))
	}
	if m.seq != nil {
		b = appendAttr(b, attrSeq, binary.BigEndian.AppendUint32(nil, *m.seq))
	}
	if m.payload != nil {
		b = appendAttr(b, attrPayload, m.payload)
		if m.noPad {
			b = b[:len(b)-(align4(len(m.payload))-len(m.payload))]
		}
	}
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	return b
}

func ipv4(proto uint8, src, dst string, l4 []byte) []byte {
	b := make([]byte, 20)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:4], uint16(20+len(l4)))
	b[8] = 64
	b[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	return append(b, l4...)
}

func ipv6(next uint8, src, dst string, rest []byte) []byte {
	b := make([]byte, 40)
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:6], uint16(len(rest)))
	b[6] = next
	b[7] = 64
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
	return append(b, rest...)
}

func ports(src, dst uint16, tail int) []byte {
	b := binary.BigEndian.AppendUint16(nil, src)
	b = binary.BigEndian.AppendUint16(b, dst)
	return append(b, make([]byte, tail)...)
}

func u32(v uint32) *uint32 { return &v }

func TestParse(t *testing.T) {
	stamp := time.Unix(1795000000, 123456000)
	tcp4 := ipv4(ProtoTCP, "10.244.1.5", "10.244.1.7", ports(40000, 1234, 16))
	frag4 := ipv4(ProtoUDP, "10.0.0.1", "10.0.0.2", ports(1, 2, 0))
	binary.BigEndian.PutUint16(frag4[6:8], 185) // fragment offset 185*8
	for _, tc := range []struct {
		name string
		in   []byte
		want []Record
		err  string
	}{
		{
			name: "ipv4 tcp with everything",
			in:   packetMsg{group: 1771, prefix: "palisade ingress deny ", hook: 2, seq: u32(7), stamp: &stamp, indev: 3, payload: tcp4}.bytes(),
			want: []Record{{Group: 1771, Prefix: "palisade ingress deny ", Hook: 2, Seq: 7, HasSeq: true, Time: stamp, InIfindex: 3,
				Packet: Packet{Src: netip.MustParseAddr("10.244.1.5"), Dst: netip.MustParseAddr("10.244.1.7"), Protocol: ProtoTCP,
					SrcPort: 40000, DstPort: 1234, HasPorts: true, Length: 40}}},
		},
		{
			name: "ipv6 udp behind hop-by-hop and destination options, unpadded",
			in: packetMsg{group: 5, prefix: "p", payload: ipv6(0, "fd00:10:244:1::5", "fd00:10:244:1::7",
				append(append([]byte{60, 0, 1, 4, 0, 0, 0, 0}, 17, 1, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), ports(5353, 53, 4)...)), noPad: true}.bytes(),
			want: []Record{{Group: 5, Prefix: "p", Packet: Packet{Src: netip.MustParseAddr("fd00:10:244:1::5"), Dst: netip.MustParseAddr("fd00:10:244:1::7"),
				Protocol: ProtoUDP, SrcPort: 5353, DstPort: 53, HasPorts: true, Length: 40 + 32}}},
		},
		{
			name: "sctp and icmp, two messages in one datagram",
			in: append(packetMsg{group: 1, payload: ipv4(ProtoSCTP, "1.1.1.1", "2.2.2.2", ports(7, 9, 8))}.bytes(),
				packetMsg{group: 1, payload: ipv4(ProtoICMP, "1.1.1.1", "2.2.2.2", []byte{8, 0, 0, 0})}.bytes()...),
			want: []Record{
				{Group: 1, Packet: Packet{Src: netip.MustParseAddr("1.1.1.1"), Dst: netip.MustParseAddr("2.2.2.2"), Protocol: ProtoSCTP, SrcPort: 7, DstPort: 9, HasPorts: true, Length: 32}},
				{Group: 1, Packet: Packet{Src: netip.MustParseAddr("1.1.1.1"), Dst: netip.MustParseAddr("2.2.2.2"), Protocol: ProtoICMP, ICMPType: 8, HasICMP: true, Length: 24}},
			},
		},
		{
			name: "copy range cuts the transport header: addresses without ports",
			in:   packetMsg{group: 1, payload: ipv4(ProtoTCP, "10.0.0.1", "10.0.0.2", ports(1, 2, 16))[:22]}.bytes(),
			want: []Record{{Group: 1, Packet: Packet{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Protocol: ProtoTCP, Length: 40}}},
		},
		{
			name: "a later fragment has no ports to read",
			in:   packetMsg{group: 1, payload: frag4}.bytes(),
			want: []Record{{Group: 1, Packet: Packet{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Protocol: ProtoUDP, Length: 24}}},
		},
		{
			name: "ipv6 later fragment",
			in:   packetMsg{group: 1, payload: ipv6(44, "::1", "::2", append([]byte{ProtoTCP, 0, 0x01, 0x00, 0, 0, 0, 1}, ports(1, 2, 0)...))}.bytes(),
			want: []Record{{Group: 1, Packet: Packet{Src: netip.MustParseAddr("::1"), Dst: netip.MustParseAddr("::2"), Protocol: ProtoTCP, Length: 52}}},
		},
		{
			name: "an acknowledgement and a no-op carry no record",
			in:   append(ackMsg(3, 0), noopMsg()...),
		},
		{
			name: "the kernel's refusal is its errno",
			in:   ackMsg(1, -int32(unix.EPERM)),
			err:  "operation not permitted",
		},
		{
			name: "a message without payload is refused",
			in:   packetMsg{group: 1, prefix: "x"}.bytes(),
			err:  "without payload",
		},
		{
			name: "not an IP packet",
			in:   packetMsg{group: 1, payload: []byte{0x20, 1, 2}}.bytes(),
			err:  "IP version 2",
		},
		{
			name: "a length beyond the datagram",
			in:   packetMsg{group: 1, payload: tcp4}.bytes()[:30],
			err:  "netlink message length",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseErrnoIsComparable(t *testing.T) {
	_, err := Parse(ackMsg(1, -int32(unix.EBUSY)))
	if !errors.Is(err, unix.EBUSY) {
		t.Fatalf("%v is not EBUSY", err)
	}
}

func TestProtocolName(t *testing.T) {
	for p, want := range map[uint8]string{ProtoTCP: "TCP", ProtoUDP: "UDP", ProtoSCTP: "SCTP", ProtoICMP: "ICMP", ProtoICMPv6: "ICMPv6", 47: "IP-47"} {
		if got := (Packet{Protocol: p}).ProtocolName(); got != want {
			t.Errorf("%d: %q, want %q", p, got, want)
		}
	}
}

func TestConfigMessageParsesAsNetlink(t *testing.T) {
	// The request must be a well-formed netlink message: the kernel
	// validates lengths exactly as decode does.
	b := configMessage(1771, 9, 128)
	if int(binary.NativeEndian.Uint32(b)) != len(b) || len(b)%4 != 0 {
		t.Fatalf("length field %d, message %d bytes", binary.NativeEndian.Uint32(b), len(b))
	}
	var seen []uint16
	if err := walkAttrs(b[nlmsgHdrLen+nfgenHdrLen:], func(typ uint16, v []byte) error { seen = append(seen, typ); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(seen, []uint16{cfgCmd, cfgMode, cfgQThresh, cfgFlags}) {
		t.Errorf("attributes %v", seen)
	}
	if binary.BigEndian.Uint16(b[18:20]) != 1771 {
		t.Error("group not in res_id")
	}
}

func ackMsg(seq uint32, code int32) []byte {
	b := make([]byte, nlmsgHdrLen+4+nlmsgHdrLen)
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:6], nlmsgError)
	binary.NativeEndian.PutUint32(b[8:12], seq)
	binary.NativeEndian.PutUint32(b[16:20], uint32(code))
	return b
}

func noopMsg() []byte {
	b := make([]byte, nlmsgHdrLen)
	binary.NativeEndian.PutUint32(b[0:4], nlmsgHdrLen)
	binary.NativeEndian.PutUint16(b[4:6], nlmsgNoop)
	return b
}

// FuzzParse feeds arbitrary datagrams to the decoder: it must never panic
// or read out of bounds, and what it returns must be self-consistent.
func FuzzParse(f *testing.F) {
	stamp := time.Unix(1795000000, 5000)
	f.Add(packetMsg{group: 1771, prefix: "palisade egress deny ", seq: u32(1), stamp: &stamp, payload: ipv4(ProtoTCP, "10.244.1.5", "10.96.0.10", ports(1, 53, 16))}.bytes())
	f.Add(packetMsg{group: 1, payload: ipv6(0, "::1", "::2", append([]byte{ProtoUDP, 0, 0, 0, 0, 0, 0, 0}, ports(1, 2, 4)...)), noPad: true}.bytes())
	f.Add(packetMsg{group: 1, payload: ipv6(44, "::1", "::2", append([]byte{ProtoSCTP, 0, 0, 0, 0, 0, 0, 1}, ports(1, 2, 0)...))}.bytes())
	f.Add(append(ackMsg(1, 0), packetMsg{group: 2, payload: ipv4(ProtoICMP, "1.2.3.4", "5.6.7.8", []byte{3, 3})}.bytes()...))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := Parse(b)
		if err == nil && len(recs) != packetMessages(b) {
			t.Fatalf("%d records from %d packet messages, and no error", len(recs), packetMessages(b))
		}
		for _, r := range recs {
			p := r.Packet
			if !p.Src.IsValid() || !p.Dst.IsValid() || p.Src.Is4() != p.Dst.Is4() {
				t.Fatalf("record with addresses %v -> %v", p.Src, p.Dst)
			}
			if p.HasPorts && p.HasICMP {
				t.Fatal("both ports and ICMP type")
			}
			if (p.SrcPort != 0 || p.DstPort != 0) && !p.HasPorts {
				t.Fatal("ports without HasPorts")
			}
			if len(r.Prefix) > len(b) {
				t.Fatal("prefix longer than the input")
			}
		}
	})
}

// packetMessages counts the packet messages in a well-framed datagram.
func packetMessages(b []byte) int {
	n := 0
	for len(b) >= nlmsgHdrLen {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		if l < nlmsgHdrLen || l > len(b) {
			return -1
		}
		if binary.NativeEndian.Uint16(b[4:6]) == msgPacket {
			n++
		}
		b = b[min(align4(l), len(b)):]
	}
	return n
}
