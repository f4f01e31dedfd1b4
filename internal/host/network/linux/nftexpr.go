package linux

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Small builders for nftables expressions. Each returns the expressions nft itself would generate for the
// rule fragment named in its comment, loading into register 1.

// ifname pads an interface name to IFNAMSIZ, which is how the kernel compares an exact name; a wildcard
// ("ocb*") is the bare prefix.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func cmp(op expr.CmpOp, data []byte) expr.Any {
	return &expr.Cmp{Op: op, Register: 1, Data: data}
}

// meta <key> <op> data
func metaIs(key expr.MetaKey, op expr.CmpOp, data []byte) []expr.Any {
	return []expr.Any{&expr.Meta{Key: key, Register: 1}, cmp(op, data)}
}

// iifname / oifname "name" (exact), or "prefix*" with wildcard.
func iifIs(name string) []expr.Any { return metaIs(expr.MetaKeyIIFNAME, expr.CmpOpEq, ifname(name)) }
func oifIs(name string) []expr.Any { return metaIs(expr.MetaKeyOIFNAME, expr.CmpOpEq, ifname(name)) }
func iifHas(prefix string) []expr.Any {
	return metaIs(expr.MetaKeyIIFNAME, expr.CmpOpEq, []byte(prefix))
}

// meta nfproto ipv4|ipv6 (inet family)
func nfproto(p byte) []expr.Any { return metaIs(expr.MetaKeyNFPROTO, expr.CmpOpEq, []byte{p}) }

// meta l4proto <p>
func l4proto(p byte) []expr.Any { return metaIs(expr.MetaKeyL4PROTO, expr.CmpOpEq, []byte{p}) }

// meta protocol ip|arp|ip6 (bridge family: the ethertype)
func ethertype(t uint16) []expr.Any {
	return metaIs(expr.MetaKeyPROTOCOL, expr.CmpOpEq, binaryutil.BigEndian.PutUint16(t))
}

// ct state established,related
func ctEstablished() []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  make([]byte, 4)},
		cmp(expr.CmpOpNeq, make([]byte, 4)),
	}
}

func load(base expr.PayloadBase, offset, n uint32) expr.Any {
	return &expr.Payload{DestRegister: 1, Base: base, Offset: offset, Len: n}
}

// Offsets of the fields used here, in the IPv4, IPv6, transport and ARP headers.
const (
	ip4Src, ip4Dst = 12, 16
	ip6Src, ip6Dst = 8, 24
	arpSPA         = 14 // Ethernet/IPv4 ARP: sender protocol address
)

// ip saddr|daddr <prefix>, with the nfproto guard the inet family needs (nft adds it implicitly).
func addrIn(p netip.Prefix, src bool) []expr.Any {
	p = p.Masked()
	var e []expr.Any
	var off uint32
	if p.Addr().Is4() {
		e, off = nfproto(unix.NFPROTO_IPV4), ip4Dst
		if src {
			off = ip4Src
		}
	} else {
		e, off = nfproto(unix.NFPROTO_IPV6), ip6Dst
		if src {
			off = ip6Src
		}
	}
	if p.Bits() == 0 {
		return e
	}
	n := uint32(p.Addr().BitLen() / 8)
	e = append(e, load(expr.PayloadBaseNetworkHeader, off, n))
	if p.Bits() != p.Addr().BitLen() {
		e = append(e, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: n, Mask: maskBytes(p), Xor: make([]byte, n)})
	}
	return append(e, cmp(expr.CmpOpEq, p.Addr().AsSlice()))
}

func maskBytes(p netip.Prefix) []byte {
	m := make([]byte, p.Addr().BitLen()/8)
	for i := 0; i < p.Bits(); i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

// th dport <from>-<to> (or == from)
func dportRange(from, to int) []expr.Any {
	e := []expr.Any{load(expr.PayloadBaseTransportHeader, 2, 2)}
	if from == to {
		return append(e, cmp(expr.CmpOpEq, be16(from)))
	}
	return append(e, &expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: be16(from), ToData: be16(to)})
}

// icmp type / code: the first two bytes of the ICMP and ICMPv6 headers.
func icmpField(offset uint32, v int) []expr.Any {
	return []expr.Any{load(expr.PayloadBaseTransportHeader, offset, 1), cmp(expr.CmpOpEq, []byte{byte(v)})}
}

func be16(v int) []byte {
	b := make([]byte, 2)
	binary.BigEndian.PutUint16(b, uint16(v))
	return b
}

// verdict ends a rule: accept, drop, return, or jump <chain>.
func verdict(k expr.VerdictKind) expr.Any { return &expr.Verdict{Kind: k} }

func rule(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func one(e expr.Any) []expr.Any { return []expr.Any{e} }
