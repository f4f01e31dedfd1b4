// Package dns is the VPC's resolver (AWS's "AmazonProvidedDNS", at 169.254.169.253): it answers the private
// DNS names of instances (ip-172-31-5-9.ec2.internal, ip-172-31-5-9.eu-west-1.compute.internal) from the
// name itself, and forwards every other question to the host's resolvers. It owns no records.
package dns

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Server answers DNS over UDP.
type Server struct {
	// Upstream are the resolvers ("host:port") other questions go to; empty means those of /etc/resolv.conf.
	Upstream []string
	Logger   *slog.Logger
}

// Serve answers questions on pc until it is closed.
func (s *Server) Serve(pc net.PacketConn) error {
	if len(s.Upstream) == 0 {
		s.Upstream = hostResolvers("/etc/resolv.conf")
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return err
		}
		query := append([]byte(nil), buf[:n]...)
		go func() {
			if answer := s.answer(query); answer != nil {
				_, _ = pc.WriteTo(answer, from)
			}
		}()
	}
}

// answer builds the reply to one query, or nil to stay silent (unparseable input).
func (s *Server) answer(query []byte) []byte {
	var p dnsmessage.Parser
	hdr, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	if addr, ok := PrivateName(q.Name.String()); ok {
		return reply(hdr, q, addr)
	}
	return s.forward(query, hdr, q)
}

// PrivateName reads the address out of an instance's private DNS name.
func PrivateName(name string) (netip.Addr, bool) {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	host, domain, ok := strings.Cut(name, ".")
	if !ok || !strings.HasPrefix(host, "ip-") || !(domain == "ec2.internal" || strings.HasSuffix(domain, ".compute.internal")) {
		return netip.Addr{}, false
	}
	addr, err := netip.ParseAddr(strings.ReplaceAll(strings.TrimPrefix(host, "ip-"), "-", "."))
	if err != nil || !addr.Is4() {
		return netip.Addr{}, false
	}
	return addr, true
}

func reply(hdr dnsmessage.Header, q dnsmessage.Question, addr netip.Addr) []byte {
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: hdr.ID, Response: true, Authoritative: true, RecursionDesired: hdr.RecursionDesired, RecursionAvailable: true})
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	if q.Type == dnsmessage.TypeA || q.Type == dnsmessage.TypeALL {
		_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: addr.As4()})
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// forward relays the query to the first upstream that answers; with none, the answer is SERVFAIL.
func (s *Server) forward(query []byte, hdr dnsmessage.Header, q dnsmessage.Question) []byte {
	for _, up := range s.Upstream {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := (&net.Dialer{}).DialContext(ctx, "udp", up)
		cancel()
		if err != nil {
			continue
		}
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write(query); err == nil {
			buf := make([]byte, 1500)
			if n, err := conn.Read(buf); err == nil {
				conn.Close()
				return buf[:n]
			}
		}
		conn.Close()
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: hdr.ID, Response: true, RCode: dnsmessage.RCodeServerFailure, RecursionDesired: hdr.RecursionDesired})
	_ = b.StartQuestions()
	_ = b.Question(q)
	out, _ := b.Finish()
	return out
}

// hostResolvers reads the nameservers of a resolv.conf, as host:53.
func hostResolvers(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			out = append(out, net.JoinHostPort(f[1], "53"))
		}
	}
	return out
}
