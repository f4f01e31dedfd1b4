package dns

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func TestPrivateName(t *testing.T) {
	for name, want := range map[string]string{
		"ip-172-31-5-9.ec2.internal.":             "172.31.5.9",
		"IP-10-0-0-12.eu-west-1.compute.internal": "10.0.0.12",
		"ip-172-31-5-9.example.com":               "",
		"ec2-3-4-5-6.compute-1.amazonaws.com":     "",
		"ip-999-31-5-9.ec2.internal":              "",
	} {
		got, ok := PrivateName(name)
		if (want == "") == ok || ok && got != netip.MustParseAddr(want) {
			t.Errorf("%s: got %v %v, want %q", name, got, ok, want)
		}
	}
}

// query sends one question to addr and returns the answers' A records and the rcode.
func query(t *testing.T, addr net.Addr, name string) ([]netip.Addr, dnsmessage.RCode) {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, RecursionDesired: true})
	_ = b.StartQuestions()
	_ = b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	msg, _ := b.Finish()
	conn, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	var m dnsmessage.Message
	if err := m.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	var out []netip.Addr
	for _, a := range m.Answers {
		if r, ok := a.Body.(*dnsmessage.AResource); ok {
			out = append(out, netip.AddrFrom4(r.A))
		}
	}
	return out, m.Header.RCode
}

func TestServeAnswersPrivateNamesAndForwards(t *testing.T) {
	upstream, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer upstream.Close()
	// The upstream answers every question with 192.0.2.1.
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := upstream.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			hdr, _ := p.Start(buf[:n])
			q, _ := p.Question()
			_, _ = upstream.WriteTo(reply(hdr, q, netip.MustParseAddr("192.0.2.1")), from)
		}
	}()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go (&Server{Upstream: []string{upstream.LocalAddr().String()}}).Serve(pc)

	if got, _ := query(t, pc.LocalAddr(), "ip-172-31-5-9.ec2.internal."); len(got) != 1 || got[0] != netip.MustParseAddr("172.31.5.9") {
		t.Fatalf("private name: %v", got)
	}
	if got, _ := query(t, pc.LocalAddr(), "example.org."); len(got) != 1 || got[0] != netip.MustParseAddr("192.0.2.1") {
		t.Fatalf("forwarded: %v", got)
	}
	dead, _ := net.ListenPacket("udp", "127.0.0.1:0")
	deadAddr := dead.LocalAddr().String()
	dead.Close()
	pc2, _ := net.ListenPacket("udp", "127.0.0.1:0")
	defer pc2.Close()
	go (&Server{Upstream: []string{deadAddr}}).Serve(pc2)
	if _, rcode := query(t, pc2.LocalAddr(), "example.org."); rcode != dnsmessage.RCodeServerFailure {
		t.Fatalf("no upstream: rcode %v", rcode)
	}
}
