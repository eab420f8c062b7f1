// Package nflog reads packets the kernel logs to an NFLOG group (nftables'
// `log group N`, iptables' NFLOG target) over netfilter's netlink socket:
// the way the lab learns which packets its policy rules dropped, and why.
//
// Decoding is kept apart from the socket: Parse turns the bytes of one
// netlink datagram into records and never touches the kernel, so it can be
// tested and fuzzed anywhere; Listener (listener.go) owns the socket.
package nflog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Netlink and nfnetlink_log wire constants (linux/netlink.h,
// linux/netfilter/nfnetlink.h, linux/netfilter/nfnetlink_log.h). They are
// kernel ABI, so spelling them here is as stable as importing them.
const (
	nlmsgHdrLen  = 16
	nfgenHdrLen  = 4
	nlaHdrLen    = 4
	nlmsgNoop    = 0x1
	nlmsgError   = 0x2
	nlmsgDone    = 0x3
	nlmsgOverrun = 0x4

	nlaTypeMask = 0x3fff // strips NLA_F_NESTED and NLA_F_NET_BYTEORDER

	subsysULOG   = 4
	msgPacket    = subsysULOG << 8   // NFULNL_MSG_PACKET is 0
	msgConfig    = subsysULOG<<8 | 1 // NFULNL_MSG_CONFIG
	attrPacketHW = 1                 // NFULA_PACKET_HDR
	attrMark     = 2
	attrTime     = 3
	attrInDev    = 4
	attrOutDev   = 5
	attrPayload  = 9
	attrPrefix   = 10
	attrSeq      = 12
)

// IP protocol numbers the records name.
const (
	ProtoICMP    = 1
	ProtoTCP     = 6
	ProtoUDP     = 17
	ProtoDCCP    = 33
	ProtoICMPv6  = 58
	ProtoSCTP    = 132
	ProtoUDPLite = 136
)

// Record is one logged packet.
type Record struct {
	// Group is the NFLOG group the packet was logged to.
	Group uint16
	// Prefix is the log rule's prefix, as the rule spelled it.
	Prefix string
	// Time is when the kernel received the packet; zero when the kernel
	// did not stamp it (forwarded packets usually carry no timestamp
	// unless something on the machine asked for timestamps).
	Time time.Time
	// Hook is the netfilter hook that logged it (0 prerouting, 1 input,
	// 2 forward, 3 output, 4 postrouting).
	Hook uint8
	// InIfindex and OutIfindex name the interfaces, in the namespace the
	// packet was logged in (0: none).
	InIfindex, OutIfindex uint32
	Mark                  uint32
	// Seq numbers the records of one group, when the listener asked for
	// sequence numbers (HasSeq): a gap means the kernel lost records.
	Seq    uint32
	HasSeq bool
	// Lost is how many records the kernel dropped just before this one
	// (its queue to us overflowed). Only Listener fills it.
	Lost uint64
	// Packet is what the copied header bytes say.
	Packet Packet
}

// Packet is the part of a logged packet's headers a denial log needs.
type Packet struct {
	Src, Dst netip.Addr
	// Protocol is the transport protocol number (after IPv6 extension
	// headers).
	Protocol uint8
	// SrcPort and DstPort are set for TCP, UDP, SCTP, UDP-Lite and DCCP,
	// when the copied bytes reach them and the packet is not a later
	// fragment.
	SrcPort, DstPort uint16
	HasPorts         bool
	// ICMPType and ICMPCode are set for ICMP and ICMPv6 (HasICMP).
	ICMPType, ICMPCode uint8
	HasICMP            bool
	// Length is the packet's length as its IP header states it (the kernel
	// copies only the first bytes).
	Length int
}

// ProtocolName names the transport protocol the way Kubernetes and
// nftables users write it.
func (p Packet) ProtocolName() string {
	switch p.Protocol {
	case ProtoTCP:
		return "TCP"
	case ProtoUDP:
		return "UDP"
	case ProtoSCTP:
		return "SCTP"
	case ProtoICMP:
		return "ICMP"
	case ProtoICMPv6:
		return "ICMPv6"
	case ProtoUDPLite:
		return "UDPLite"
	case ProtoDCCP:
		return "DCCP"
	}
	return "IP-" + strconv.Itoa(int(p.Protocol))
}

// Parse decodes one datagram read from an NFLOG socket: a sequence of
// netlink messages, of which packet messages become records. Other
// messages (acknowledgements, no-ops) are skipped; a netlink error message
// is returned as its unix.Errno. A malformed message stops the decoding
// with an error; the records decoded before it are returned with it.
func Parse(b []byte) ([]Record, error) {
	recs, _, err := decode(b)
	return recs, err
}

// decode is Parse that also reports the sequence numbers of the requests
// the datagram acknowledges, for the listener's own configuration calls.
func decode(b []byte) (out []Record, acked []uint32, err error) {
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return out, acked, fmt.Errorf("nflog: %d trailing bytes, shorter than a netlink header", len(b))
		}
		n := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		seq := binary.NativeEndian.Uint32(b[8:12])
		if n < nlmsgHdrLen || n > len(b) {
			return out, acked, fmt.Errorf("nflog: netlink message length %d in %d bytes", n, len(b))
		}
		body := b[nlmsgHdrLen:n]
		switch typ {
		case msgPacket:
			r, err := parsePacketMessage(body)
			if err != nil {
				return out, acked, err
			}
			out = append(out, r)
		case nlmsgError:
			if len(body) < 4 {
				return out, acked, errors.New("nflog: short netlink error message")
			}
			code := int32(binary.NativeEndian.Uint32(body[0:4]))
			if code > 0 || code < -4095 {
				return out, acked, fmt.Errorf("nflog: netlink error code %d", code)
			}
			if code != 0 {
				return out, acked, unix.Errno(-code)
			}
			acked = append(acked, seq)
		case nlmsgOverrun:
			return out, acked, errors.New("nflog: netlink overrun")
		case nlmsgNoop, nlmsgDone:
		}
		// The last message of a datagram need not be padded.
		b = b[min(align4(n), len(b)):]
	}
	return out, acked, nil
}

func align4(n int) int { return (n + 3) &^ 3 }

func parsePacketMessage(b []byte) (Record, error) {
	var r Record
	if len(b) < nfgenHdrLen {
		return r, errors.New("nflog: packet message without nfgenmsg header")
	}
	r.Group = binary.BigEndian.Uint16(b[2:4])
	var payload []byte
	err := walkAttrs(b[nfgenHdrLen:], func(typ uint16, v []byte) error {
		switch typ {
		case attrPacketHW:
			if len(v) >= 3 {
				r.Hook = v[2]
			}
		case attrMark:
			if len(v) >= 4 {
				r.Mark = binary.BigEndian.Uint32(v)
			}
		case attrTime:
			if len(v) < 16 {
				return errors.New("nflog: short timestamp")
			}
			sec, usec := binary.BigEndian.Uint64(v[0:8]), binary.BigEndian.Uint64(v[8:16])
			if sec > 1<<40 || usec >= 1e6 {
				return fmt.Errorf("nflog: timestamp %d.%06d out of range", sec, usec)
			}
			r.Time = time.Unix(int64(sec), int64(usec)*1000)
		case attrInDev:
			if len(v) >= 4 {
				r.InIfindex = binary.BigEndian.Uint32(v)
			}
		case attrOutDev:
			if len(v) >= 4 {
				r.OutIfindex = binary.BigEndian.Uint32(v)
			}
		case attrPrefix:
			// NUL-terminated on the wire; the rule's own spelling is
			// what callers match on.
			for i, c := range v {
				if c == 0 {
					v = v[:i]
					break
				}
			}
			r.Prefix = string(v)
		case attrSeq:
			if len(v) >= 4 {
				r.Seq, r.HasSeq = binary.BigEndian.Uint32(v), true
			}
		case attrPayload:
			payload = v
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	if payload == nil {
		return r, errors.New("nflog: packet message without payload (the group is not in copy-packet mode)")
	}
	r.Packet, err = ParsePacket(payload)
	return r, err
}

func walkAttrs(b []byte, fn func(typ uint16, v []byte) error) error {
	for len(b) >= nlaHdrLen {
		n := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) & nlaTypeMask
		if n < nlaHdrLen || n > len(b) {
			return fmt.Errorf("nflog: attribute %d length %d in %d bytes", typ, n, len(b))
		}
		if err := fn(typ, b[nlaHdrLen:n]); err != nil {
			return err
		}
		if align4(n) >= len(b) {
			return nil
		}
		b = b[align4(n):]
	}
	if len(b) != 0 {
		return fmt.Errorf("nflog: %d trailing attribute bytes", len(b))
	}
	return nil
}

// ParsePacket reads the addresses, transport protocol and ports from the
// first bytes of an IPv4 or IPv6 packet. Bytes cut off by the copy range
// are not an error: what they would have said is left unset.
func ParsePacket(b []byte) (Packet, error) {
	var p Packet
	if len(b) == 0 {
		return p, errors.New("nflog: empty payload")
	}
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return p, fmt.Errorf("nflog: IPv4 header cut to %d bytes", len(b))
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 {
			return p, fmt.Errorf("nflog: IPv4 header length %d", ihl)
		}
		p.Length = int(binary.BigEndian.Uint16(b[2:4]))
		p.Protocol = b[9]
		p.Src = netip.AddrFrom4([4]byte(b[12:16]))
		p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		// Only the first fragment carries the transport header.
		if binary.BigEndian.Uint16(b[6:8])&0x1fff == 0 && ihl <= len(b) {
			l4 = b[ihl:]
		}
	case 6:
		if len(b) < 40 {
			return p, fmt.Errorf("nflog: IPv6 header cut to %d bytes", len(b))
		}
		p.Length = 40 + int(binary.BigEndian.Uint16(b[4:6]))
		p.Src = netip.AddrFrom16([16]byte(b[8:24]))
		p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		p.Protocol, l4 = skipIPv6Extensions(b[6], b[40:])
	default:
		return p, fmt.Errorf("nflog: IP version %d", b[0]>>4)
	}
	switch p.Protocol {
	case ProtoTCP, ProtoUDP, ProtoSCTP, ProtoUDPLite, ProtoDCCP:
		// All five start with source and destination port.
		if len(l4) >= 4 {
			p.SrcPort = binary.BigEndian.Uint16(l4[0:2])
			p.DstPort = binary.BigEndian.Uint16(l4[2:4])
			p.HasPorts = true
		}
	case ProtoICMP, ProtoICMPv6:
		if len(l4) >= 2 {
			p.ICMPType, p.ICMPCode, p.HasICMP = l4[0], l4[1], true
		}
	}
	return p, nil
}

// skipIPv6Extensions follows the next-header chain to the transport
// header. It returns nil bytes when the chain leaves the copied bytes or
// the packet is a later fragment, so no ports are read from the wrong
// place.
func skipIPv6Extensions(next uint8, b []byte) (uint8, []byte) {
	for range 16 { // more headers than any sane packet carries
		var n int
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(b) < 2 {
				return next, nil
			}
			n = (int(b[1]) + 1) * 8
		case 51: // authentication header
			if len(b) < 2 {
				return next, nil
			}
			n = (int(b[1]) + 2) * 4
		case 44: // fragment
			if len(b) < 8 {
				return next, nil
			}
			if binary.BigEndian.Uint16(b[2:4])&0xfff8 != 0 {
				return b[0], nil
			}
			n = 8
		default:
			return next, b
		}
		if n > len(b) {
			return b[0], nil
		}
		next, b = b[0], b[n:]
	}
	return next, nil
}
