package ec2

import (
	"context"
	"errors"
	"net/netip"

	api "github.com/overcast-cloud/overcast/api/ec2"
	"github.com/overcast-cloud/overcast/api/wire"
	"github.com/overcast-cloud/overcast/internal/apierr"
	"github.com/overcast-cloud/overcast/internal/awsctx"
	"github.com/overcast-cloud/overcast/internal/store"
)

// addressRecord is an Elastic IP, keyed by its allocation id. The association fields are set while it is
// associated with an instance.
type addressRecord struct {
	AllocationID       string `json:"allocationId"`
	PublicIP           string `json:"publicIp"`
	AssociationID      string `json:"associationId,omitempty"`
	InstanceID         string `json:"instanceId,omitempty"`
	NetworkInterfaceID string `json:"networkInterfaceId,omitempty"`
	PrivateIP          string `json:"privateIp,omitempty"`
	Tags               []Tag  `json:"tags,omitempty"`
}

// AllocateAddress takes an address of the host's public pool as an Elastic IP.
func (s *Service) AllocateAddress(ctx context.Context, in *api.AllocateAddressRequest) (*api.AllocateAddressResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	if d := deref(in.Domain); d != "" && d != "vpc" && d != "standard" {
		return nil, apierr.InvalidParam("InvalidParameterValue", "Value (%s) for parameter domain is invalid.", d)
	}
	if in.Address != nil || in.CustomerOwnedIpv4Pool != nil || in.IpamPoolId != nil ||
		in.PublicIpv4Pool != nil && *in.PublicIpv4Pool != "amazon" {
		return nil, apierr.InvalidParam("InvalidParameterValue", "Overcast allocates Elastic IPs from its own pool only")
	}
	ip, err := s.allocatePublicIP(ctx)
	if err != nil {
		return nil, err
	}
	a := addressRecord{AllocationID: newID("eipalloc"), PublicIP: ip.String(), Tags: tagsFromSpecs(in.TagSpecifications, "elastic-ip")}
	if _, err := store.Create(ctx, s.st, scopedKey(ctx, kindAddress, a.AllocationID), a); err != nil {
		_ = s.releasePublicIP(ctx, ip)
		return nil, err
	}
	region := awsctx.From(ctx).Region
	return &api.AllocateAddressResult{AllocationId: str(a.AllocationID), PublicIp: str(a.PublicIP), Domain: str("vpc"),
		PublicIpv4Pool: str("amazon"), NetworkBorderGroup: str(region)}, nil
}

// DescribeAddresses lists the Elastic IPs.
func (s *Service) DescribeAddresses(ctx context.Context, in *api.DescribeAddressesRequest) (*api.DescribeAddressesResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	addrs, err := listNamed(ctx, s, kindAddress,
		namedIDs[addressRecord]{in.AllocationIds, func(a addressRecord) string { return a.AllocationID }, allocationNotFound},
		namedIDs[addressRecord]{in.PublicIps, func(a addressRecord) string { return a.PublicIP }, addressNotFound})
	if err != nil {
		return nil, err
	}
	r := awsctx.From(ctx)
	out := []api.Address{}
	for _, a := range addrs {
		if a, err = s.settled(ctx, a); err != nil {
			return nil, err
		}
		var owner []string
		if a.NetworkInterfaceID != "" {
			owner = []string{r.Account}
		}
		ok, err := matchFilters(in.Filters, map[string][]string{
			"allocation-id": {a.AllocationID}, "association-id": nonEmpty(a.AssociationID), "domain": {"vpc"},
			"instance-id": nonEmpty(a.InstanceID), "network-border-group": {r.Region},
			"network-interface-id": nonEmpty(a.NetworkInterfaceID), "network-interface-owner-id": owner,
			"private-ip-address": nonEmpty(a.PrivateIP), "public-ip": {a.PublicIP}, "public-ipv4-pool": {"amazon"},
		}, a.Tags)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		o := api.Address{AllocationId: str(a.AllocationID), PublicIp: str(a.PublicIP), Domain: str("vpc"),
			PublicIpv4Pool: str("amazon"), NetworkBorderGroup: str(r.Region), Tags: apiTags(a.Tags),
			AssociationId: optional(a.AssociationID), InstanceId: optional(a.InstanceID),
			NetworkInterfaceId: optional(a.NetworkInterfaceID), PrivateIpAddress: optional(a.PrivateIP)}
		if a.NetworkInterfaceID != "" {
			o.NetworkInterfaceOwnerId = str(r.Account)
		}
		out = append(out, o)
	}
	return &api.DescribeAddressesResult{Addresses: out}, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// AssociateAddress maps an Elastic IP to an instance. An address associated elsewhere moves only with
// AllowReassociation; an instance that has another Elastic IP gives it up.
func (s *Service) AssociateAddress(ctx context.Context, in *api.AssociateAddressRequest) (*api.AssociateAddressResult, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	a, err := s.addressFor(ctx, deref(in.AllocationId), deref(in.PublicIp))
	if err != nil {
		return nil, err
	}
	instanceID := deref(in.InstanceId)
	if instanceID == "" {
		if in.NetworkInterfaceId != nil {
			return nil, apierr.InvalidParam("InvalidParameterValue",
				"Overcast associates Elastic IPs by InstanceId; give the instance of %s", *in.NetworkInterfaceId)
		}
		return nil, apierr.InvalidParam("MissingParameter", "Either instance ID or network interface id must be specified")
	}
	ifaceID, private, err := s.instanceNetwork(ctx, instanceID)
	if err != nil {
		return nil, err
	}
	if in.NetworkInterfaceId != nil && *in.NetworkInterfaceId != ifaceID {
		return nil, apierr.InvalidParam("InvalidParameterCombination", "Network interface %s is not attached to instance %s", *in.NetworkInterfaceId, instanceID)
	}
	if p := deref(in.PrivateIpAddress); p != "" && p != private.String() {
		return nil, apierr.InvalidParam("InvalidParameterValue", "Address %s is not a private address of instance %s", p, instanceID)
	}
	if a.InstanceID == instanceID {
		return &api.AssociateAddressResult{AssociationId: str(a.AssociationID)}, nil
	}
	if a.AssociationID != "" && (in.AllowReassociation == nil || !*in.AllowReassociation) {
		return nil, apierr.New(apierr.Conflict, "Resource.AlreadyAssociated",
			"resource %s is already associated with associate-id %s", a.AllocationID, a.AssociationID)
	}
	ip := netip.MustParseAddr(a.PublicIP)
	if err := s.setInstancePublicIP(ctx, instanceID, ip, true); err != nil {
		return nil, err
	}
	previous := a.InstanceID
	assocID := newID("eipassoc")
	if _, err := store.Mutate(ctx, s.st, scopedKey(ctx, kindAddress, a.AllocationID), func(r *addressRecord) error {
		r.AssociationID, r.InstanceID, r.NetworkInterfaceID, r.PrivateIP = assocID, instanceID, ifaceID, private.String()
		return nil
	}); err != nil {
		return nil, err
	}
	// The instance's earlier Elastic IP, if any, is no longer associated.
	if err := s.clearAssociations(ctx, instanceID, a.AllocationID); err != nil {
		return nil, err
	}
	if previous != "" {
		if err := s.setInstancePublicIP(ctx, previous, netip.Addr{}, true); err != nil {
			s.log.Warn("elastic IP not unmapped from its earlier instance", "instance", previous, "err", err)
		}
	}
	return &api.AssociateAddressResult{AssociationId: str(assocID)}, nil
}

// DisassociateAddress unmaps an Elastic IP from its instance.
func (s *Service) DisassociateAddress(ctx context.Context, in *api.DisassociateAddressRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	var a addressRecord
	if id := deref(in.AssociationId); id != "" {
		addrs, _, err := store.List[addressRecord](ctx, s.st, scopedPrefix(ctx, kindAddress))
		if err != nil {
			return nil, err
		}
		for _, c := range addrs {
			if c.AssociationID == id {
				a = c
			}
		}
		if a.AssociationID == "" {
			return nil, apierr.Missing("InvalidAssociationID.NotFound", "The association ID '%s' does not exist", id)
		}
	} else {
		var err error
		if a, err = s.addressFor(ctx, "", deref(in.PublicIp)); err != nil {
			return nil, err
		}
		if a.AssociationID == "" {
			return &wire.Empty{}, nil
		}
	}
	if err := s.setInstancePublicIP(ctx, a.InstanceID, netip.Addr{}, true); err != nil {
		return nil, err
	}
	if err := s.clearAssociations(ctx, a.InstanceID, ""); err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}

// ReleaseAddress gives an Elastic IP back to the pool; it must not be associated.
func (s *Service) ReleaseAddress(ctx context.Context, in *api.ReleaseAddressRequest) (*wire.Empty, error) {
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	a, err := s.addressFor(ctx, deref(in.AllocationId), deref(in.PublicIp))
	if err != nil {
		return nil, err
	}
	if a.AssociationID != "" {
		return nil, apierr.New(apierr.Conflict, "InvalidIPAddress.InUse", "Address %s is in use.", a.PublicIP)
	}
	rec, err := s.st.Get(ctx, scopedKey(ctx, kindAddress, a.AllocationID))
	if err != nil {
		return nil, err
	}
	// The revision read guards against an association made in between.
	if _, err := store.Delete(ctx, s.st, rec.Key, rec.ModRevision); errors.Is(err, store.ErrConflict) {
		return nil, apierr.New(apierr.Conflict, "InvalidIPAddress.InUse", "Address %s is in use.", a.PublicIP)
	} else if err != nil {
		return nil, err
	}
	if err := s.releasePublicIP(ctx, netip.MustParseAddr(a.PublicIP)); err != nil {
		return nil, err
	}
	return &wire.Empty{}, nil
}

// disassociateInstanceAddresses clears the Elastic IP association of an instance that is terminated. It
// only updates the records: the instance's host side goes away with it.
func (s *Service) disassociateInstanceAddresses(ctx context.Context, instanceID string) error {
	return s.clearAssociations(ctx, instanceID, "")
}

// settled returns the address with an association to an instance that no longer exists (terminated)
// cleared, in case the instance went without disassociateInstanceAddresses.
func (s *Service) settled(ctx context.Context, a addressRecord) (addressRecord, error) {
	if a.InstanceID == "" {
		return a, nil
	}
	_, _, err := s.instanceNetwork(ctx, a.InstanceID)
	if e, ok := apierr.As(err); !ok || e.Code != "InvalidInstanceID.NotFound" {
		return a, nil
	}
	if err := s.clearAssociations(ctx, a.InstanceID, ""); err != nil {
		return a, err
	}
	a.AssociationID, a.InstanceID, a.NetworkInterfaceID, a.PrivateIP = "", "", "", ""
	return a, nil
}

// clearAssociations removes the association of every Elastic IP of the instance except keep's.
func (s *Service) clearAssociations(ctx context.Context, instanceID, keep string) error {
	addrs, _, err := store.List[addressRecord](ctx, s.st, scopedPrefix(ctx, kindAddress))
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if a.InstanceID != instanceID || a.AllocationID == keep {
			continue
		}
		_, err := store.Mutate(ctx, s.st, scopedKey(ctx, kindAddress, a.AllocationID), func(r *addressRecord) error {
			if r.InstanceID == instanceID {
				r.AssociationID, r.InstanceID, r.NetworkInterfaceID, r.PrivateIP = "", "", "", ""
			}
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

// addressFor finds an Elastic IP by allocation id or public address. An address of the pool that another
// account holds is AuthFailure, as EC2 answers for addresses that are not the caller's.
func (s *Service) addressFor(ctx context.Context, allocationID, publicIP string) (addressRecord, error) {
	if allocationID != "" {
		if err := checkID(allocationID, "eipalloc", "InvalidAllocationID.Malformed"); err != nil {
			return addressRecord{}, err
		}
		a, _, err := store.Get[addressRecord](ctx, s.st, scopedKey(ctx, kindAddress, allocationID))
		if errors.Is(err, store.ErrNotFound) {
			return a, allocationNotFound(allocationID)
		}
		if err != nil {
			return a, err
		}
		return s.settled(ctx, a)
	}
	if publicIP == "" {
		return addressRecord{}, apierr.InvalidParam("MissingParameter", "The request must contain the parameter AllocationId or PublicIp")
	}
	addrs, _, err := store.List[addressRecord](ctx, s.st, scopedPrefix(ctx, kindAddress))
	if err != nil {
		return addressRecord{}, err
	}
	for _, a := range addrs {
		if a.PublicIP == publicIP {
			return s.settled(ctx, a)
		}
	}
	if ip, err := netip.ParseAddr(publicIP); err == nil {
		if owner, _, err := store.Get[publicIPRecord](ctx, s.st, publicIPKey(ip)); err == nil {
			r := awsctx.From(ctx)
			if owner.Account != r.Account || owner.Region != r.Region {
				return addressRecord{}, apierr.Denied("AuthFailure", "The address '%s' does not belong to you.", publicIP)
			}
		}
	}
	return addressRecord{}, addressNotFound(publicIP)
}

func allocationNotFound(id string) error {
	return apierr.Missing("InvalidAllocationID.NotFound", "The allocation ID '%s' does not exist", id)
}

func addressNotFound(ip string) error {
	return apierr.Missing("InvalidAddress.NotFound", "Address '%s' not found.", ip)
}
