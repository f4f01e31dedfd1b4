package linux

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/overcast-cloud/overcast/internal/host/network"
)

// Rules AWS would reject never reach the kernel: SetFirewall compiles before it changes anything.
func TestCompileRejectsInvalidRules(t *testing.T) {
	any4 := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	for _, r := range []network.Rule{
		{Protocol: "tcp", FromPort: 80, ToPort: 22, CIDRs: any4},
		{Protocol: "udp", FromPort: 1, ToPort: 70000, CIDRs: any4},
		{Protocol: "icmp", FromPort: 300, ToPort: -1, CIDRs: any4},
		{Protocol: "gre", FromPort: -1, ToPort: -1, CIDRs: any4},
		{Protocol: "tcp", FromPort: 22, ToPort: 22, CIDRs: []netip.Prefix{{}}},
	} {
		if _, err := compileRules([]network.Rule{r}, true); !errors.Is(err, network.ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", r, err)
		}
	}
	// One nftables rule per CIDR, IPv4 and IPv6 alike; protocol numbers are accepted.
	rules, err := compileRules([]network.Rule{{Protocol: "47", FromPort: -1, ToPort: -1,
		CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}}}, false)
	if err != nil || len(rules) != 2 {
		t.Fatalf("got %d rules, %v; want 2", len(rules), err)
	}
}
