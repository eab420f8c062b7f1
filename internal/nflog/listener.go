package nflog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// DefaultCopyRange is how many bytes of each packet the kernel copies by
// default: an IPv6 header with a few extension headers plus the transport
// ports, and no more of the payload than a denial log needs.
const DefaultCopyRange = 128

// DefaultReadBuffer is the socket's default receive buffer: room for
// thousands of records while the reader is busy, so a burst of denials
// costs latency before it costs records.
const DefaultReadBuffer = 4 << 20

// Options tune a Listener.
type Options struct {
	// Netns is the path of the network namespace whose packets to read
	// (e.g. /run/netns/NAME); "" is the caller's own. NFLOG groups are per
	// namespace: a rule logs to the listener bound in its own namespace.
	Netns string
	// CopyRange is how many bytes of each packet to copy (default
	// DefaultCopyRange).
	CopyRange uint32
	// ReadBuffer is the socket's receive buffer in bytes (default
	// DefaultReadBuffer).
	ReadBuffer int
}

// Stats count what a Listener has seen.
type Stats struct {
	// Records delivered.
	Records uint64
	// Lost records: dropped by the kernel because the socket's queue was
	// full (found by gaps in sequence numbers, so exact except for losses
	// after the last record).
	Lost uint64
	// Overruns is how often the kernel reported the queue full (ENOBUFS).
	Overruns uint64
	// Malformed datagrams that could not be decoded entirely.
	Malformed uint64
}

// Listener is bound to one NFLOG group in one network namespace. Only one
// listener per group and namespace can exist; the kernel unbinds the group
// when the listener closes (or its process dies).
type Listener struct {
	file  *os.File
	raw   syscall.RawConn
	group uint16
	// pending holds records that arrived while Listen waited for the
	// kernel to acknowledge the binding.
	pending []Record
	// nextSeq is the sequence number the next record should carry; the
	// kernel numbers a group's records from 0 when it is bound.
	nextSeq uint32

	records, lost, overruns, malformed atomic.Uint64
	closeOnce                          sync.Once
	closeErr                           error
}

// Listen binds an NFLOG group in copy-packet mode. The socket is created
// inside opts.Netns and stays there whichever thread reads it.
func Listen(group uint16, opts Options) (*Listener, error) {
	if opts.CopyRange == 0 {
		opts.CopyRange = DefaultCopyRange
	}
	if opts.ReadBuffer == 0 {
		opts.ReadBuffer = DefaultReadBuffer
	}
	fd, err := socketIn(opts.Netns)
	if err != nil {
		return nil, err
	}
	// As root the buffer may exceed net.core.rmem_max; otherwise the
	// kernel caps what SO_RCVBUF asks for.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, opts.ReadBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, opts.ReadBuffer)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("nflog: bind netlink socket: %w", err)
	}
	// A non-blocking descriptor joins the runtime's poller: reads park the
	// goroutine instead of a thread, and Close wakes a blocked read.
	f := os.NewFile(uintptr(fd), "nflog")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	l := &Listener{file: f, raw: raw, group: group}
	if err := l.bind(opts.CopyRange); err != nil {
		f.Close()
		switch {
		case errors.Is(err, unix.EPERM), errors.Is(err, unix.EBUSY):
			return nil, fmt.Errorf("nflog: bind group %d%s: %w (another listener holds the group, or CAP_NET_ADMIN is missing)", group, where(opts.Netns), err)
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT), errors.Is(err, unix.EOPNOTSUPP):
			return nil, fmt.Errorf("nflog: bind group %d%s: %w: %w", group, where(opts.Netns), ErrUnsupported, err)
		}
		return nil, fmt.Errorf("nflog: bind group %d%s: %w", group, where(opts.Netns), err)
	}
	return l, nil
}

// ErrUnsupported says the kernel refused the NFLOG configuration itself,
// which is what a kernel without nfnetlink_log answers.
var ErrUnsupported = errors.New("the kernel does not support NFLOG (nfnetlink_log)")

func where(ns string) string {
	if ns == "" {
		return ""
	}
	return " in " + ns
}

// socketIn creates the netlink socket inside the namespace at path. A
// socket belongs to the namespace of the thread that created it, so that
// thread is switched into the namespace and never handed back to the Go
// scheduler: the goroutine exits still locked and the runtime retires the
// thread, so no other goroutine can run in the wrong namespace, even if
// switching back would have failed.
func socketIn(path string) (int, error) {
	open := func() (int, error) {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_NETFILTER)
		if err != nil {
			return -1, fmt.Errorf("nflog: netfilter netlink socket: %w", err)
		}
		return fd, nil
	}
	if path == "" {
		return open()
	}
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		target, err := netns.GetFromPath(path)
		if err != nil {
			done <- result{-1, fmt.Errorf("nflog: open netns %s: %w", path, err)}
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			done <- result{-1, fmt.Errorf("nflog: enter netns %s: %w", path, err)}
			return
		}
		fd, err := open()
		done <- result{fd, err}
	}()
	r := <-done
	return r.fd, r.err
}

// nfnetlink_log configuration attributes and values.
const (
	cfgCmd          = 1 // NFULA_CFG_CMD
	cfgMode         = 2 // NFULA_CFG_MODE
	cfgQThresh      = 5 // NFULA_CFG_QTHRESH
	cfgFlags        = 6 // NFULA_CFG_FLAGS
	cmdBind         = 1 // NFULNL_CFG_CMD_BIND
	copyPacket      = 2 // NFULNL_COPY_PACKET
	flagSeq         = 1 // NFULNL_CFG_F_SEQ
	configSeq       = 1
	bindAckDeadline = 5 * time.Second
)

// configMessage binds the group and sets it up in one request, so the
// kernel applies it all or nothing: copy-packet mode with copyRange bytes,
// a queue threshold of one (each record is sent at once instead of
// batched for up to a second), and per-group sequence numbers to count
// losses by.
func configMessage(group uint16, seq uint32, copyRange uint32) []byte {
	b := make([]byte, nlmsgHdrLen+nfgenHdrLen, 64)
	binary.NativeEndian.PutUint16(b[4:6], msgConfig)
	binary.NativeEndian.PutUint16(b[6:8], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(b[8:12], seq)
	b[16] = unix.AF_UNSPEC
	b[17] = 0 // NFNETLINK_V0
	binary.BigEndian.PutUint16(b[18:20], group)
	b = appendAttr(b, cfgCmd, []byte{cmdBind})
	mode := make([]byte, 6)
	binary.BigEndian.PutUint32(mode[0:4], copyRange)
	mode[4] = copyPacket
	b = appendAttr(b, cfgMode, mode)
	b = appendAttr(b, cfgQThresh, binary.BigEndian.AppendUint32(nil, 1))
	b = appendAttr(b, cfgFlags, binary.BigEndian.AppendUint16(nil, flagSeq))
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	return b
}

func appendAttr(b []byte, typ uint16, v []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(nlaHdrLen+len(v)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// bind sends the configuration and waits for the kernel's answer.
func (l *Listener) bind(copyRange uint32) error {
	msg := configMessage(l.group, configSeq, copyRange)
	var serr error
	err := l.raw.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	if err := l.file.SetReadDeadline(time.Now().Add(bindAckDeadline)); err != nil {
		return err
	}
	defer l.file.SetReadDeadline(time.Time{})
	buf := make([]byte, 1<<16)
	for {
		n, err := l.read(buf)
		if errors.Is(err, unix.ENOBUFS) {
			l.overruns.Add(1)
			continue
		}
		if err != nil {
			return fmt.Errorf("waiting for the kernel's answer: %w", err)
		}
		recs, acked, err := decode(buf[:n])
		// Packets may be logged between the binding and its
		// acknowledgement; they are the first records, not noise.
		l.pending = append(l.pending, recs...)
		if err != nil {
			return err
		}
		if slices.Contains(acked, configSeq) {
			return nil
		}
	}
}

func (l *Listener) read(buf []byte) (int, error) {
	var n int
	var rerr error
	err := l.raw.Read(func(fd uintptr) bool {
		n, rerr = unix.Read(int(fd), buf)
		return rerr != unix.EAGAIN
	})
	if err != nil {
		return 0, err
	}
	return n, rerr
}

// Receive calls fn for every record, in the order the kernel logged them,
// until ctx ends (then it closes the listener and returns nil) or reading
// fails. A full queue (ENOBUFS) is not a failure: the records lost are
// counted, and reported on the next record that arrives (Record.Lost).
// fn runs on Receive's goroutine; a slow fn makes the kernel drop records,
// not Receive block the kernel.
func (l *Listener) Receive(ctx context.Context, fn func(Record)) error {
	stop := context.AfterFunc(ctx, func() { _ = l.Close() })
	defer stop()
	for _, r := range l.pending {
		l.deliver(r, fn)
	}
	l.pending = nil
	buf := make([]byte, 1<<16)
	for {
		n, err := l.read(buf)
		switch {
		case errors.Is(err, unix.ENOBUFS):
			l.overruns.Add(1)
			continue
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("nflog: read: %w", err)
		}
		recs, _, err := decode(buf[:n])
		for _, r := range recs {
			l.deliver(r, fn)
		}
		if err != nil {
			l.malformed.Add(1)
		}
	}
}

func (l *Listener) deliver(r Record, fn func(Record)) {
	if r.HasSeq {
		// uint32 arithmetic: the kernel's counter wraps the same way.
		if gap := r.Seq - l.nextSeq; gap != 0 {
			r.Lost = uint64(gap)
			l.lost.Add(uint64(gap))
		}
		l.nextSeq = r.Seq + 1
	}
	l.records.Add(1)
	fn(r)
}

// Stats returns the counters so far; safe to call while Receive runs.
func (l *Listener) Stats() Stats {
	return Stats{Records: l.records.Load(), Lost: l.lost.Load(), Overruns: l.overruns.Load(), Malformed: l.malformed.Load()}
}

// Close unbinds the group (the kernel drops it with the socket) and wakes
// a blocked Receive. It may be called more than once.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.file.Close() })
	return l.closeErr
}
