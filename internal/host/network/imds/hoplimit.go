package imds

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
)

// The PUT response hop limit is the IP TTL of the packets that carry the token back. An instance with a hop
// limit of 1 gets its token; a container behind a bridge inside it, one more hop away, never receives the
// reply. The TTL is a socket option, so the handler needs the connection: ConnContext puts it in the request's
// context.

type connKey struct{}

// connHops is the hop-limit state of one connection. Keep-alive lets a GET follow a PUT on the same
// connection, and only the PUT's reply may leave with the lowered TTL, so the default is restored first.
type connHops struct {
	conn net.Conn

	mu       sync.Mutex
	changed  bool
	original int // the TTL before the first change
}

// ConnContext is the http.Server ConnContext hook the hop limit needs. Server sets it; a caller that builds
// its own http.Server must set it too, or PUT responses leave with the system's default TTL.
func (h *Handler) ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connHops{conn: c})
}

var errNoSocket = errors.New("imds: connection has no socket to set the hop limit on")

// setHopLimit makes the rest of this connection's replies leave with TTL (IPv4) or hop limit (IPv6) hops.
func setHopLimit(ctx context.Context, hops int) error {
	ch, _ := ctx.Value(connKey{}).(*connHops)
	if ch == nil {
		return errNoSocket
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if !ch.changed {
		orig, err := sockHops(ch.conn)
		if err != nil {
			return err
		}
		ch.original = orig
	}
	if err := setSockHops(ch.conn, hops); err != nil {
		return err
	}
	ch.changed = true
	return nil
}

// restoreHopLimit undoes setHopLimit before a reply that the hop limit does not govern.
func restoreHopLimit(ctx context.Context) error {
	ch, _ := ctx.Value(connKey{}).(*connHops)
	if ch == nil {
		return nil
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if !ch.changed {
		return nil
	}
	if err := setSockHops(ch.conn, ch.original); err != nil {
		return err
	}
	ch.changed = false
	return nil
}

// hopOption is the socket option that sets the hop count of c's packets. It follows the peer's address, not
// the socket's family: an IPv4 peer on a dual-stack socket is still reached over IPv4, and Linux accepts
// IP_TTL on such a socket.
func hopOption(c net.Conn) (level, opt int) {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && !ip.Unmap().Is4() {
			return syscall.IPPROTO_IPV6, syscall.IPV6_UNICAST_HOPS
		}
	}
	return syscall.IPPROTO_IP, syscall.IP_TTL
}

func sockHops(c net.Conn) (int, error) {
	var v int
	err := control(c, func(fd int, level, opt int) (err error) {
		v, err = syscall.GetsockoptInt(fd, level, opt)
		return err
	})
	return v, err
}

func setSockHops(c net.Conn, hops int) error {
	return control(c, func(fd int, level, opt int) error {
		return syscall.SetsockoptInt(fd, level, opt, hops)
	})
}

func control(c net.Conn, f func(fd, level, opt int) error) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return errNoSocket
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	level, opt := hopOption(c)
	var ferr error
	if err := raw.Control(func(fd uintptr) { ferr = f(int(fd), level, opt) }); err != nil {
		return err
	}
	return ferr
}
