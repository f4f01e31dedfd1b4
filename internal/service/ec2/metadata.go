package ec2

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"

	"github.com/overcast-cloud/overcast/internal/host/network/imds"
	"github.com/overcast-cloud/overcast/internal/store"
)

var _ imds.Source = (*Service)(nil)

// indexedInstance is one entry of the metadata index.
type indexedInstance struct {
	keys []store.Key // more than one only when two VPCs overlap; see InstanceByPrivateIP
}

// InstanceByPrivateIP is the metadata service's view of the instance that owns ip, across every account
// and region. The index is rebuilt only when the store's revision moved, so a burst of metadata requests
// costs one map lookup and one record read each.
func (s *Service) InstanceByPrivateIP(ctx context.Context, ip netip.Addr) (*imds.Instance, error) {
	key, ok, err := s.instanceKeyByIP(ctx, ip)
	if err != nil || !ok {
		return nil, err
	}
	r, _, err := store.Get[instanceRecord](ctx, s.st, key)
	if err != nil {
		return nil, nil // gone meanwhile
	}
	if r.PrivateIP != ip.String() || !servesMetadata(r.State) {
		return nil, nil
	}
	return s.metadataOf(ctx, &r)
}

// servesMetadata: the init may ask before the record says running, and a stopping machine still runs.
func servesMetadata(st instanceState) bool {
	return st == statePending || st == stateRunning || st == stateStopping
}

func (s *Service) instanceKeyByIP(ctx context.Context, ip netip.Addr) (store.Key, bool, error) {
	h := s.hw()
	rev, err := s.st.Revision(ctx)
	if err != nil {
		return store.Key{}, false, err
	}
	h.idxMu.Lock()
	defer h.idxMu.Unlock()
	if h.idx == nil || h.idxRev != rev {
		recs, raw, err := store.List[instanceRecord](ctx, s.st, store.Prefix{Kind: kindInstance, AllAccounts: true})
		if err != nil {
			return store.Key{}, false, err
		}
		idx := make(map[netip.Addr]indexedInstance, len(recs))
		for i := range recs {
			if a := recs[i].privateAddr(); a.IsValid() && servesMetadata(recs[i].State) {
				e := idx[a]
				e.keys = append(e.keys, raw[i].Key)
				idx[a] = e
			}
		}
		h.idx, h.idxRev = idx, rev
	}
	e, ok := h.idx[ip]
	if !ok {
		return store.Key{}, false, nil
	}
	if len(e.keys) > 1 {
		// Two VPCs with overlapping ranges both have an instance at ip; the source address alone cannot tell
		// them apart, and answering for the wrong one would leak its data.
		return store.Key{}, false, fmt.Errorf("ec2: %d instances share private address %s", len(e.keys), ip)
	}
	return e.keys[0], true, nil
}

func (s *Service) metadataOf(ctx context.Context, r *instanceRecord) (*imds.Instance, error) {
	userData, _ := base64.StdEncoding.DecodeString(r.UserData)
	m := &imds.Instance{
		Account: r.Account, Region: r.Region, AvailabilityZone: r.AvailabilityZone,
		InstanceID: r.ID, ImageID: r.ImageID, InstanceType: r.InstanceType, ReservationID: r.ReservationID,
		LaunchTime: r.LaunchTime, Hostname: r.privateDNSName(), LocalIPv4: r.privateAddr(), PublicIPv4: r.publicAddr(),
		PublicHostname: r.publicDNSName(), MAC: r.MAC, InterfaceID: r.InterfaceID, VPCID: r.VPCID,
		SubnetID: r.SubnetID, SubnetCIDR: r.SubnetCIDR, UserData: userData,
		HTTPTokens: r.Metadata.HTTPTokens, HopLimit: r.Metadata.HopLimit, HTTPEndpoint: r.Metadata.HTTPEndpoint,
		BlockDevices: map[string]string{"ami": rootDevice, "root": rootDevice},
	}
	for _, g := range r.Groups {
		m.SecurityGroups = append(m.SecurityGroups, g.Name)
		m.SecurityGroupIDs = append(m.SecurityGroupIDs, g.ID)
	}
	if r.KeyName != "" {
		m.PublicKeys = []imds.PublicKey{{Name: r.KeyName, OpenSSH: r.PublicKey}}
	}
	actx := withAccount(ctx, r.Account, r.Region)
	if v, _, err := s.getVPC(actx, r.VPCID); err == nil {
		m.VPCCIDR = v.CIDR
	}
	if p := r.Profile; p != nil && p.State == "associated" {
		m.InstanceProfileARN, m.InstanceProfileID = p.ARN, p.ID
		// The profile's role is read now, so a role added to or removed from the profile applies at once.
		if s.profiles != nil {
			if prof, err := s.profiles.InstanceProfileByName(ctx, r.Account, p.Name); err == nil && len(prof.Roles) > 0 {
				m.RoleName = prof.Roles[0]
			}
		}
	}
	return m, nil
}
