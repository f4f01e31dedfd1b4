package linux

import (
	"fmt"
	"net"
	"slices"

	"github.com/overcast-cloud/overcast/internal/host/network"
)

// ListenService listens on a service address inside the core netns. The socket keeps its namespace, so the
// server may accept on it from any goroutine; instances reach it through their subnet's gateway without NAT,
// so the source address is the instance's own private IP.
func (n *Network) ListenService(svc network.Service) (net.Listener, error) {
	if !slices.Contains(network.Services, svc) {
		return nil, fmt.Errorf("network: %s (%s) is not a service instances may reach", svc.Name, svc.Addr)
	}
	var l net.Listener
	err := inNetns(n.core, func() error {
		var err error
		l, err = net.Listen("tcp4", svc.Addr.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.listeners = append(n.listeners, l)
	n.mu.Unlock()
	return l, nil
}

// ListenResolver opens the resolver's UDP socket inside the core netns.
func (n *Network) ListenResolver() (net.PacketConn, error) {
	var pc net.PacketConn
	err := inNetns(n.core, func() error {
		var err error
		pc, err = net.ListenPacket("udp4", network.ResolverAddr.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.packetConns = append(n.packetConns, pc)
	n.mu.Unlock()
	return pc, nil
}
