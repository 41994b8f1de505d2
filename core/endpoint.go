package core

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
	"time"

	"github.com/isthmusnet/isthmus/awserr"
)

// VPC endpoints (the consumer side). Three types:
//
//   - Interface: one requester-managed network interface per subnet (one
//     subnet per availability zone, only zones the service has), security
//     groups, regional and zonal DNS names; to an endpoint service or to a
//     servable AWS service of the catalog.
//   - Gateway: S3 or DynamoDB; each associated route table holds the route
//     pl-<service> → vpce-<id>, managed only through the endpoint.
//   - GatewayLoadBalancer: exactly one subnet, no security groups, no
//     policy; a route target (CreateRoute VpcEndpointId).
//
// Endpoints to endpoint services have a connection on the provider's side
// (connection.go) that tracks the same state.

// Endpoint states, as EC2 spells them on the wire.
const (
	EndpointPendingAcceptance = "pendingAcceptance"
	EndpointPending           = "pending"
	EndpointAvailable         = "available"
	EndpointDeleting          = "deleting"
	EndpointDeleted           = "deleted"
	EndpointRejected          = "rejected"
	EndpointFailed            = "failed"
	EndpointExpired           = "expired"
)

// EndpointRequesterID is the requester of interface endpoint network
// interfaces: the AWS account AWS shows there.
const EndpointRequesterID = "727180483921"

// PendingAcceptanceTTL is how long an endpoint may wait for acceptance
// before ExpireEndpoints expires it, unless the daemon is told otherwise.
const PendingAcceptanceTTL = 7 * 24 * time.Hour

// VpcEndpoint is a VPC endpoint.
type VpcEndpoint struct {
	Meta
	Type        string `json:"type"`
	ServiceName string `json:"service"`
	// ServiceID is the endpoint service's id ("" for AWS services).
	ServiceID string `json:"serviceId,omitempty"`
	// AWSService is the catalog service's name ("" for endpoint services).
	AWSService string    `json:"awsService,omitempty"`
	State      string    `json:"state"`
	StateSince time.Time `json:"stateSince"`
	// Policy is the endpoint policy document ("" where policies are not
	// supported).
	Policy            string              `json:"policy,omitempty"`
	PrivateDNSEnabled bool                `json:"privateDns,omitempty"`
	IPAddressType     string              `json:"ipType,omitempty"`
	DNSRecordIPType   string              `json:"dnsRecordIpType,omitempty"`
	Subnets           []EndpointInterface `json:"subnets,omitempty"`
	Groups            []string            `json:"groups,omitempty"`
	GroupNames        []string            `json:"groupNames,omitempty"`
	RouteTables       []string            `json:"rtbs,omitempty"`
	PrefixListID      string              `json:"pl,omitempty"`
	// DNSSuffix is the 8 random characters of the endpoint's DNS names.
	DNSSuffix string `json:"dnsSuffix,omitempty"`
}

// EndpointInterface is an interface endpoint's network interface in one
// subnet.
type EndpointInterface struct {
	SubnetID string `json:"subnet"`
	Zone     string `json:"az"`
	ENI      string `json:"eni"`
	IP       string `json:"ip"`
}

// SubnetIDs are the endpoint's subnets.
func (e *VpcEndpoint) SubnetIDs() []string {
	out := make([]string, len(e.Subnets))
	for i, s := range e.Subnets {
		out[i] = s.SubnetID
	}
	return out
}

// NetworkInterfaceIDs are the endpoint's network interfaces.
func (e *VpcEndpoint) NetworkInterfaceIDs() []string {
	out := make([]string, len(e.Subnets))
	for i, s := range e.Subnets {
		out[i] = s.ENI
	}
	return out
}

func (e *VpcEndpoint) filter(name string) ([]string, bool) {
	switch name {
	case "ip-address-type":
		return one(e.IPAddressType), true
	case "service-name":
		return one(e.ServiceName), true
	case "service-region":
		return one(e.Region), true
	case "vpc-id":
		return one(e.VpcID), true
	case "vpc-endpoint-id":
		return one(e.ID), true
	case "vpc-endpoint-state":
		return one(e.State), true
	case "vpc-endpoint-type":
		return one(e.Type), true
	}
	return nil, false
}

func (e *VpcEndpoint) setState(tx *Tx, state string) {
	if e.State != state {
		e.State, e.StateSince = state, tx.c.Now()
	}
}

// DNSEntry is one of an endpoint's DNS names with its hosted zone.
type DNSEntry struct {
	Name         string
	HostedZoneID string
}

// vpceHostedZones are the Route 53 zones of vpce.amazonaws.com names
// where known; other regions get a stable id derived from the name.
var vpceHostedZones = map[string]string{"us-east-1": "Z7HUB22UULQXV"}

func vpceHostedZone(region string) string {
	if z, ok := vpceHostedZones[region]; ok {
		return z
	}
	return hostedZoneID("vpce/" + region)
}

func hostedZoneID(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return "Z" + strings.ToUpper(hex.EncodeToString(sum[:]))[:13]
}

// dnsEntries are the endpoint's DNS names: the regional name, one zonal
// name per subnet, then the private DNS name when enabled (for an endpoint
// service, only once it is verified).
func (tx *Tx) dnsEntries(e *VpcEndpoint) []DNSEntry {
	if e.Type != EndpointTypeInterface || e.DNSSuffix == "" {
		return nil
	}
	var base, private, wild string
	if e.ServiceID != "" {
		base = e.ServiceID + "." + e.Region + ".vpce.amazonaws.com"
		if s, ok, err := loadAny[EndpointService](tx, kindEndpointService, e.ServiceID); err == nil && ok {
			private = s.VerifiedPrivateDNSName()
		}
	} else if s, ok := tx.c.serviceCatalog().lookup(e.AWSService); ok {
		base = s.Name + "." + e.Region + ".vpce.amazonaws.com"
		private = s.privateDNS(e.Region)
		if s.Wildcard {
			wild = "*."
		}
	} else {
		return nil
	}
	zone := vpceHostedZone(e.Region)
	name := e.ID + "-" + e.DNSSuffix
	out := []DNSEntry{{Name: wild + name + "." + base, HostedZoneID: zone}}
	for _, s := range e.Subnets {
		out = append(out, DNSEntry{Name: wild + name + "-" + s.Zone + "." + base, HostedZoneID: zone})
	}
	if e.PrivateDNSEnabled && private != "" {
		out = append(out, DNSEntry{Name: private, HostedZoneID: hostedZoneID("private/" + e.ID)})
	}
	return out
}

// EndpointView is an endpoint with what Describe shows beside it.
type EndpointView struct {
	*VpcEndpoint
	DNSEntries []DNSEntry
	// RouteTableIDs are the associated tables that still exist.
	RouteTableIDs []string
}

func (tx *Tx) endpointView(e *VpcEndpoint) *EndpointView {
	v := &EndpointView{VpcEndpoint: e, DNSEntries: tx.dnsEntries(e)}
	for _, id := range e.RouteTables {
		if _, ok, err := loadAny[RouteTable](tx, kindRouteTable, id); err == nil && ok {
			v.RouteTableIDs = append(v.RouteTableIDs, id)
		}
	}
	return v
}

// SubnetConfig fixes the address of an endpoint's interface in a subnet.
type SubnetConfig struct {
	SubnetID string
	IPv4     string
	IPv6     string
}

// CreateVpcEndpointInput is what CreateVpcEndpoint takes.
type CreateVpcEndpointInput struct {
	VpcID             string
	ServiceName       string
	ServiceRegion     string
	Type              string // "": Gateway, as on AWS
	SubnetIDs         []string
	SubnetConfigs     []SubnetConfig
	SecurityGroupIDs  []string
	RouteTableIDs     []string
	PolicyDocument    *string
	PrivateDNSEnabled *bool
	IPAddressType     string
	DNSRecordIPType   string
	TagSpecs          []TagSpec
}

// endpointTarget is what an endpoint connects to: an endpoint service or
// an AWS service of the catalog.
type endpointTarget struct {
	svc *EndpointService
	aws *CatalogService
}

func (t endpointTarget) policySupported() bool { return t.aws != nil && t.aws.Policy }

// resolveService finds the service an endpoint of type typ connects to. A
// service the caller may not see is InvalidServiceName, as one that does
// not exist.
func (tx *Tx) resolveService(name, typ string) (endpointTarget, error) {
	if id, ok := strings.CutPrefix(name, "com.amazonaws.vpce."+tx.who.Region+"."); ok && wellFormedID("vpce-svc", id) {
		s, found, err := loadAny[EndpointService](tx, kindEndpointService, id)
		if err != nil {
			return endpointTarget{}, err
		}
		if !found || !s.allows(tx.who) || s.State != ServiceAvailable {
			return endpointTarget{}, invalidServiceName(name)
		}
		if s.Type != typ {
			return endpointTarget{}, invalidParameter("The Vpc Endpoint Service '%s' does not support endpoint type %s; it is a %s service.", name, typ, s.Type)
		}
		return endpointTarget{svc: s}, nil
	}
	short, ok := awsServiceShortName(tx.who.Region, name)
	if !ok {
		return endpointTarget{}, invalidServiceName(name)
	}
	s, ok := tx.c.serviceCatalog().lookup(short)
	if !ok || len(tx.offeredTypes(s)) == 0 {
		return endpointTarget{}, invalidServiceName(name)
	}
	if !containsString(tx.offeredTypes(s), typ) {
		return endpointTarget{}, invalidParameter("The Vpc Endpoint Service '%s' does not support endpoint type %s.", name, typ)
	}
	return endpointTarget{aws: s}, nil
}

// checkPolicy validates an endpoint policy document.
func checkPolicy(doc string) error {
	if _, err := ParsePolicy(doc); err != nil {
		return awserr.New("InvalidPolicyDocument", "%s", err.Error())
	}
	return nil
}

// CreateVpcEndpoint creates an endpoint in one of the caller's VPCs.
func (c *Cloud) CreateVpcEndpoint(who Caller, in CreateVpcEndpointInput) (*EndpointView, error) {
	if in.VpcID == "" {
		return nil, awserr.MissingParameter("VpcId")
	}
	if in.ServiceName == "" {
		return nil, awserr.MissingParameter("ServiceName")
	}
	if in.Type == "" {
		in.Type = EndpointTypeGateway
	}
	switch in.Type {
	case EndpointTypeInterface, EndpointTypeGateway, EndpointTypeGatewayLoadBalancer:
	case "Resource", "ServiceNetwork":
		return nil, awserr.New("UnsupportedOperation", "VPC endpoints of type %s are not supported by this endpoint.", in.Type)
	default:
		return nil, awserr.New("InvalidVpcEndpointType", "The VPC endpoint type '%s' is not valid.", in.Type)
	}
	if in.ServiceRegion != "" && in.ServiceRegion != who.Region {
		return nil, awserr.New("UnsupportedOperation", "Cross-region VPC endpoints are not supported: service region %s.", in.ServiceRegion)
	}
	if in.PolicyDocument != nil {
		if err := checkPolicy(*in.PolicyDocument); err != nil {
			return nil, err
		}
	}
	ipType, dnsType, err := endpointIPTypes(in.IPAddressType, in.DNSRecordIPType)
	if err != nil {
		return nil, err
	}
	tags, err := specTags(kindVpcEndpoint, in.TagSpecs)
	if err != nil {
		return nil, err
	}
	var v *EndpointView
	err = c.update(who, func(tx *Tx) error {
		vpc, err := load[Vpc](tx, kindVpc, in.VpcID)
		if err != nil {
			return err
		}
		target, err := tx.resolveService(in.ServiceName, in.Type)
		if err != nil {
			return err
		}
		e := &VpcEndpoint{
			Meta:        tx.newMeta(kindVpcEndpoint, vpc.ID),
			Type:        in.Type,
			ServiceName: in.ServiceName,
		}
		e.Tags = tags
		if target.svc != nil {
			e.ServiceID = target.svc.ID
		} else {
			e.AWSService = target.aws.Name
		}
		// The policy: the given document, else full access, where the
		// service supports policies.
		switch {
		case in.PolicyDocument != nil && (in.Type == EndpointTypeGatewayLoadBalancer || !target.policySupported()):
			return invalidParameter("VPC endpoint policies are not supported for service %s.", in.ServiceName)
		case in.PolicyDocument != nil:
			e.Policy = *in.PolicyDocument
		case target.policySupported() && in.Type != EndpointTypeGatewayLoadBalancer:
			e.Policy = DefaultEndpointPolicy
		}
		switch in.Type {
		case EndpointTypeGateway:
			err = tx.createGatewayEndpoint(e, target.aws, in)
		default:
			e.IPAddressType, e.DNSRecordIPType = ipType, dnsType
			err = tx.createInterfaceEndpoint(e, vpc, target, in)
		}
		if err != nil {
			return err
		}
		if err := tx.save(kindVpcEndpoint, e); err != nil {
			return err
		}
		if target.svc != nil {
			if err := tx.connect(e, target.svc); err != nil {
				return err
			}
		}
		v = tx.endpointView(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// endpointIPTypes checks IpAddressType and DnsOptions.DnsRecordIpType.
// Isthmus subnets are IPv4 only.
func endpointIPTypes(ipType, dnsType string) (string, string, error) {
	if ipType == "" {
		ipType = "ipv4"
	}
	switch ipType {
	case "ipv4":
	case "dualstack", "ipv6":
		return "", "", invalidParameter("IpAddressType %s requires IPv6 subnets, which are not supported here.", ipType)
	default:
		return "", "", awserr.InvalidParameterValue("Value (%s) for parameter IpAddressType is invalid. Valid values: ipv4, dualstack, ipv6.", ipType)
	}
	switch dnsType {
	case "":
		dnsType = "ipv4"
	case "ipv4", "service-defined":
	case "dualstack", "ipv6":
		return "", "", invalidParameter("DnsRecordIpType %s is not valid for an endpoint with IpAddressType %s.", dnsType, ipType)
	default:
		return "", "", awserr.InvalidParameterValue("Value (%s) for parameter DnsRecordIpType is invalid. Valid values: ipv4, dualstack, ipv6, service-defined.", dnsType)
	}
	return ipType, dnsType, nil
}

// createGatewayEndpoint sets a gateway endpoint up: available at once,
// with its prefix list route in each route table.
func (tx *Tx) createGatewayEndpoint(e *VpcEndpoint, s *CatalogService, in CreateVpcEndpointInput) error {
	switch {
	case len(in.SubnetIDs) > 0 || len(in.SubnetConfigs) > 0:
		return invalidParameter("Subnets are not supported for Gateway VPC endpoints.")
	case len(in.SecurityGroupIDs) > 0:
		return invalidParameter("Security groups are not supported for Gateway VPC endpoints.")
	case in.PrivateDNSEnabled != nil && *in.PrivateDNSEnabled:
		return invalidParameter("Private DNS is not supported for Gateway VPC endpoints.")
	case in.IPAddressType != "" && in.IPAddressType != "ipv4" || in.DNSRecordIPType != "":
		return invalidParameter("IP address types and DNS options are not supported for Gateway VPC endpoints.")
	}
	e.PrefixListID = s.PrefixListID(tx.who.Region)
	e.setState(tx, EndpointAvailable)
	return tx.addEndpointRoutes(e, in.RouteTableIDs)
}

// addEndpointRoutes associates route tables with a gateway endpoint: each
// gets the route pl-<service> → vpce-<id>. A table already routing that
// prefix list (another endpoint to the same service) is refused.
func (tx *Tx) addEndpointRoutes(e *VpcEndpoint, ids []string) error {
	for _, id := range dedupe(ids) {
		if containsString(e.RouteTables, id) {
			continue
		}
		rt, err := load[RouteTable](tx, kindRouteTable, id)
		if err != nil {
			return err
		}
		if rt.VpcID != e.VpcID {
			return invalidParameter("Route table %s does not belong to vpc %s.", rt.ID, e.VpcID)
		}
		if rt.findRoute(e.PrefixListID) >= 0 {
			return awserr.New("RouteAlreadyExists", "route table %s already has a route with destination-prefix-list-id %s", rt.ID, e.PrefixListID)
		}
		rt.Routes = append(rt.Routes, Route{DestinationPrefixListID: e.PrefixListID, VpcEndpointID: e.ID, Origin: OriginCreateRoute})
		if err := tx.save(kindRouteTable, rt); err != nil {
			return err
		}
		e.RouteTables = append(e.RouteTables, rt.ID)
	}
	return nil
}

// removeEndpointRoutes takes route tables away from a gateway endpoint,
// with their routes. A table that no longer exists is simply forgotten.
func (tx *Tx) removeEndpointRoutes(e *VpcEndpoint, ids []string, strict bool) error {
	for _, id := range dedupe(ids) {
		if !containsString(e.RouteTables, id) {
			if strict {
				if _, err := load[RouteTable](tx, kindRouteTable, id); err != nil {
					return err
				}
				return invalidParameter("Route table %s is not associated with VPC endpoint %s.", id, e.ID)
			}
			continue
		}
		e.RouteTables = without(e.RouteTables, []string{id})
		rt, ok, err := loadAny[RouteTable](tx, kindRouteTable, id)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		kept := rt.Routes[:0]
		for _, r := range rt.Routes {
			if r.VpcEndpointID != e.ID || r.DestinationPrefixListID != e.PrefixListID {
				kept = append(kept, r)
			}
		}
		rt.Routes = kept
		if err := tx.save(kindRouteTable, rt); err != nil {
			return err
		}
	}
	return nil
}

func dedupe(ids []string) []string {
	var out []string
	for _, id := range ids {
		if !containsString(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// createInterfaceEndpoint sets up an interface or Gateway Load Balancer
// endpoint: its network interfaces, groups, DNS and state.
func (tx *Tx) createInterfaceEndpoint(e *VpcEndpoint, vpc *Vpc, t endpointTarget, in CreateVpcEndpointInput) error {
	if len(in.RouteTableIDs) > 0 {
		return invalidParameter("Route tables are not supported for %s VPC endpoints.", e.Type)
	}
	subnets := mergeSubnetConfigs(in.SubnetIDs, in.SubnetConfigs)
	gwlb := e.Type == EndpointTypeGatewayLoadBalancer
	if gwlb {
		switch {
		case len(subnets) != 1:
			return invalidParameter("Exactly one subnet must be specified for a GatewayLoadBalancer VPC endpoint.")
		case len(in.SecurityGroupIDs) > 0:
			return invalidParameter("Security groups are not supported for GatewayLoadBalancer VPC endpoints.")
		case in.PrivateDNSEnabled != nil && *in.PrivateDNSEnabled:
			return invalidParameter("Private DNS is not supported for GatewayLoadBalancer VPC endpoints.")
		}
	} else {
		e.DNSSuffix = randomString(tx.c.rand, 8, lowerAlnum)
		// Private DNS: on by default for AWS services, off for endpoint
		// services.
		e.PrivateDNSEnabled = t.aws != nil
		if in.PrivateDNSEnabled != nil {
			e.PrivateDNSEnabled = *in.PrivateDNSEnabled
		}
		if err := tx.checkPrivateDNS(e, vpc, t); err != nil {
			return err
		}
		var err error
		if e.Groups, e.GroupNames, err = tx.endpointGroups(vpc.ID, in.SecurityGroupIDs); err != nil {
			return err
		}
	}
	if err := tx.addEndpointSubnets(e, t, subnets); err != nil {
		return err
	}
	switch {
	case t.svc != nil && t.svc.AcceptanceRequired:
		e.setState(tx, EndpointPendingAcceptance)
	default:
		e.setState(tx, EndpointAvailable)
	}
	return nil
}

// checkPrivateDNS refuses private DNS where it cannot work: a service
// without a verified private name, or a VPC without DNS support and DNS
// hostnames.
func (tx *Tx) checkPrivateDNS(e *VpcEndpoint, vpc *Vpc, t endpointTarget) error {
	if !e.PrivateDNSEnabled {
		return nil
	}
	if t.svc != nil && t.svc.VerifiedPrivateDNSName() == "" {
		return invalidParameter("Private DNS can't be enabled because the service %s does not provide a private DNS name.", e.ServiceName)
	}
	if t.aws != nil && t.aws.PrivateDNSName == "" {
		return invalidParameter("Private DNS can't be enabled because the service %s does not provide a private DNS name.", e.ServiceName)
	}
	if !vpc.EnableDNSSupport || !vpc.EnableDNSHostnames {
		return invalidParameter("Enabling private DNS requires both enableDnsSupport and enableDnsHostnames VPC attributes set to true for %s", vpc.ID)
	}
	return nil
}

// endpointGroups checks an interface endpoint's security groups (the
// VPC's default group when none) as its interfaces will carry them.
func (tx *Tx) endpointGroups(vpcID string, ids []string) ([]string, []string, error) {
	for _, id := range ids {
		g, err := load[SecurityGroup](tx, kindSecurityGroup, id)
		if err != nil {
			return nil, nil, err
		}
		if g.VpcID != vpcID {
			return nil, nil, invalidParameter("Security group %s and VPC %s belong to different networks.", id, vpcID)
		}
	}
	return tx.interfaceGroups(&Subnet{Meta: Meta{VpcID: vpcID}}, ids)
}

// mergeSubnetConfigs merges SubnetIds and SubnetConfigurations, in order,
// a subnet once.
func mergeSubnetConfigs(ids []string, cfgs []SubnetConfig) []SubnetConfig {
	var out []SubnetConfig
	idx := map[string]int{}
	for _, id := range ids {
		if _, ok := idx[id]; !ok {
			idx[id] = len(out)
			out = append(out, SubnetConfig{SubnetID: id})
		}
	}
	for _, c := range cfgs {
		if i, ok := idx[c.SubnetID]; ok {
			out[i] = c
			continue
		}
		idx[c.SubnetID] = len(out)
		out = append(out, c)
	}
	return out
}

// addEndpointSubnets gives the endpoint one requester-managed interface in
// each subnet: a subnet of its VPC, in a zone the service has, and no two
// in one zone.
func (tx *Tx) addEndpointSubnets(e *VpcEndpoint, t endpointTarget, cfgs []SubnetConfig) error {
	if len(cfgs) > 0 && t.svc == nil && t.aws == nil {
		return invalidServiceName(e.ServiceName)
	}
	var zones []Zone
	if t.svc != nil {
		var err error
		if zones, err = tx.serviceZones(t.svc); err != nil {
			return err
		}
	} else {
		zones = tx.c.regions[tx.who.Region].Zones
	}
	for _, cfg := range cfgs {
		if cfg.SubnetID == "" {
			return awserr.MissingParameter("SubnetId")
		}
		if cfg.IPv6 != "" {
			return invalidParameter("IPv6 addresses are not supported: subnet %s.", cfg.SubnetID)
		}
		s, err := load[Subnet](tx, kindSubnet, cfg.SubnetID)
		if err != nil {
			return err
		}
		if s.VpcID != e.VpcID {
			return invalidParameter("The subnet ID '%s' does not belong to vpc '%s'.", s.ID, e.VpcID)
		}
		ok := false
		for _, z := range zones {
			ok = ok || z.Name == s.AvailabilityZone
		}
		if !ok {
			return invalidParameter("The VPC endpoint service %s does not support the availability zone of the subnet: %s.", e.ServiceName, s.ID)
		}
		for _, have := range e.Subnets {
			if have.Zone == s.AvailabilityZone {
				if have.SubnetID == s.ID {
					return invalidParameter("Subnet %s is already a subnet of VPC endpoint %s.", s.ID, e.ID)
				}
				return awserr.New("DuplicateSubnetsInSameZone", "Found another VPC endpoint subnet in the availability zone of %s. VPC endpoint subnets should be in different availability zones supported by the VPC endpoint service.", s.ID)
			}
		}
		spec := interfaceSpec{
			SubnetID:         s.ID,
			PrivateIP:        cfg.IPv4,
			Groups:           e.Groups,
			Description:      "VPC Endpoint Interface " + e.ID,
			InterfaceType:    "vpc_endpoint",
			RequesterManaged: true,
			RequesterID:      EndpointRequesterID,
		}
		if e.Type == EndpointTypeGatewayLoadBalancer {
			spec.InterfaceType, spec.NoGroups, spec.Groups = "gateway_load_balancer_endpoint", true, nil
		}
		n, err := tx.createInterface(spec)
		if err != nil {
			return err
		}
		e.Subnets = append(e.Subnets, EndpointInterface{SubnetID: s.ID, Zone: s.AvailabilityZone, ENI: n.ID, IP: n.PrivateIP})
	}
	sort.SliceStable(e.Subnets, func(i, j int) bool { return e.Subnets[i].Zone < e.Subnets[j].Zone })
	return nil
}

// removeEndpointSubnet deletes the endpoint's interface in subnet id.
func (tx *Tx) removeEndpointSubnet(e *VpcEndpoint, id string) error {
	for i, s := range e.Subnets {
		if s.SubnetID != id {
			continue
		}
		if n, ok, err := loadAny[NetworkInterface](tx, kindENI, s.ENI); err != nil {
			return err
		} else if ok {
			if err := tx.deleteInterface(n); err != nil {
				return err
			}
		}
		e.Subnets = append(e.Subnets[:i:i], e.Subnets[i+1:]...)
		return nil
	}
	if _, err := load[Subnet](tx, kindSubnet, id); err != nil {
		return err
	}
	return invalidParameter("Subnet %s is not a subnet of VPC endpoint %s.", id, e.ID)
}

// DescribeVpcEndpoints lists the caller's endpoints, by id and filters,
// up to 1,000 a page.
func (c *Cloud) DescribeVpcEndpoints(who Caller, ids []string, filters []Filter, p Page) ([]*EndpointView, string, error) {
	var out []*VpcEndpoint
	var views []*EndpointView
	err := c.view(who, func(tx *Tx) error {
		var err error
		if out, err = describe[VpcEndpoint](tx, kindVpcEndpoint, ids, filters); err != nil {
			return err
		}
		page, next, err := paginateCapped(out, func(e *VpcEndpoint) string { return e.ID }, p, 1000)
		if err != nil {
			return err
		}
		for _, e := range page {
			views = append(views, tx.endpointView(e))
		}
		p.NextToken = next
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return views, p.NextToken, nil
}

// ModifyVpcEndpointInput is what ModifyVpcEndpoint takes.
type ModifyVpcEndpointInput struct {
	VpcEndpointID          string
	AddSubnetIDs           []string
	RemoveSubnetIDs        []string
	SubnetConfigs          []SubnetConfig
	AddSecurityGroupIDs    []string
	RemoveSecurityGroupIDs []string
	AddRouteTableIDs       []string
	RemoveRouteTableIDs    []string
	PolicyDocument         *string
	ResetPolicy            bool
	PrivateDNSEnabled      *bool
	IPAddressType          string
	DNSRecordIPType        string
}

// ModifyVpcEndpoint changes an endpoint: its subnets (and their fixed
// addresses), security groups, route tables, policy and private DNS, each
// only where the endpoint's type has it.
func (c *Cloud) ModifyVpcEndpoint(who Caller, in ModifyVpcEndpointInput) error {
	if in.VpcEndpointID == "" {
		return awserr.MissingParameter("VpcEndpointId")
	}
	if in.PolicyDocument != nil && in.ResetPolicy {
		return awserr.InvalidParameterCombination("PolicyDocument and ResetPolicy cannot both be specified.")
	}
	if in.PolicyDocument != nil {
		if err := checkPolicy(*in.PolicyDocument); err != nil {
			return err
		}
	}
	return c.update(who, func(tx *Tx) error {
		e, err := load[VpcEndpoint](tx, kindVpcEndpoint, in.VpcEndpointID)
		if err != nil {
			return err
		}
		vpc, err := load[Vpc](tx, kindVpc, e.VpcID)
		if err != nil {
			return err
		}
		var t endpointTarget
		if e.ServiceID != "" {
			s, ok, err := loadAny[EndpointService](tx, kindEndpointService, e.ServiceID)
			if err != nil {
				return err
			}
			if ok {
				t.svc = s
			}
		} else {
			t.aws, _ = tx.c.serviceCatalog().lookup(e.AWSService)
		}
		// (A service that is gone leaves t empty: the endpoint can still be
		// changed, but not given new subnets.)
		gw, gwlb := e.Type == EndpointTypeGateway, e.Type == EndpointTypeGatewayLoadBalancer

		// Route tables: gateway endpoints only.
		if len(in.AddRouteTableIDs)+len(in.RemoveRouteTableIDs) > 0 {
			if !gw {
				return invalidParameter("Route tables are not supported for %s VPC endpoints.", e.Type)
			}
			if err := tx.removeEndpointRoutes(e, in.RemoveRouteTableIDs, true); err != nil {
				return err
			}
			if err := tx.addEndpointRoutes(e, in.AddRouteTableIDs); err != nil {
				return err
			}
		}
		// Subnets: interface and Gateway Load Balancer endpoints.
		if len(in.AddSubnetIDs)+len(in.RemoveSubnetIDs)+len(in.SubnetConfigs) > 0 {
			if gw {
				return invalidParameter("Subnets are not supported for Gateway VPC endpoints.")
			}
			if gwlb {
				return invalidParameter("The subnet of a GatewayLoadBalancer VPC endpoint cannot be changed.")
			}
			var add []SubnetConfig
			for _, cfg := range mergeSubnetConfigs(in.AddSubnetIDs, in.SubnetConfigs) {
				if containsString(e.SubnetIDs(), cfg.SubnetID) {
					if cfg.IPv4 == "" {
						continue
					}
					// A new fixed address for an existing subnet: the
					// interface is replaced.
					if err := tx.removeEndpointSubnet(e, cfg.SubnetID); err != nil {
						return err
					}
				}
				add = append(add, cfg)
			}
			for _, id := range dedupe(in.RemoveSubnetIDs) {
				if err := tx.removeEndpointSubnet(e, id); err != nil {
					return err
				}
			}
			if err := tx.addEndpointSubnets(e, t, add); err != nil {
				return err
			}
		}
		// Security groups: interface endpoints only; never none.
		if len(in.AddSecurityGroupIDs)+len(in.RemoveSecurityGroupIDs) > 0 {
			if e.Type != EndpointTypeInterface {
				return invalidParameter("Security groups are not supported for %s VPC endpoints.", e.Type)
			}
			for _, id := range in.RemoveSecurityGroupIDs {
				if !containsString(e.Groups, id) {
					if _, err := load[SecurityGroup](tx, kindSecurityGroup, id); err != nil {
						return err
					}
					return invalidParameter("Security group %s is not associated with VPC endpoint %s.", id, e.ID)
				}
			}
			groups := append(without(e.Groups, in.RemoveSecurityGroupIDs), in.AddSecurityGroupIDs...)
			if len(groups) == 0 {
				return invalidParameter("A VPC endpoint must have at least one security group.")
			}
			if e.Groups, e.GroupNames, err = tx.endpointGroups(e.VpcID, groups); err != nil {
				return err
			}
			for _, s := range e.Subnets {
				n, ok, err := loadAny[NetworkInterface](tx, kindENI, s.ENI)
				if err != nil {
					return err
				}
				if ok {
					n.Groups, n.GroupNames = e.Groups, e.GroupNames
					if err := tx.save(kindENI, n); err != nil {
						return err
					}
				}
			}
		}
		// Policy.
		if in.PolicyDocument != nil || in.ResetPolicy {
			if gwlb || !t.policySupported() {
				return invalidParameter("VPC endpoint policies are not supported for service %s.", e.ServiceName)
			}
			e.Policy = DefaultEndpointPolicy
			if in.PolicyDocument != nil {
				e.Policy = *in.PolicyDocument
			}
		}
		// Private DNS, IP address types: interface endpoints only.
		if in.PrivateDNSEnabled != nil {
			if e.Type != EndpointTypeInterface {
				return invalidParameter("Private DNS is not supported for %s VPC endpoints.", e.Type)
			}
			e.PrivateDNSEnabled = *in.PrivateDNSEnabled
			if err := tx.checkPrivateDNS(e, vpc, t); err != nil {
				return err
			}
		}
		if in.IPAddressType != "" || in.DNSRecordIPType != "" {
			if e.Type == EndpointTypeGateway {
				return invalidParameter("IP address types and DNS options are not supported for Gateway VPC endpoints.")
			}
			ipType := in.IPAddressType
			if ipType == "" {
				ipType = e.IPAddressType
			}
			if e.IPAddressType, e.DNSRecordIPType, err = endpointIPTypes(ipType, in.DNSRecordIPType); err != nil {
				return err
			}
		}
		return tx.save(kindVpcEndpoint, e)
	})
}

// DeleteVpcEndpoints deletes endpoints, each on its own: its network
// interfaces and routes go with it and its connection becomes deleted.
// An id that is not the caller's endpoint is a per-id unsuccessful item.
func (c *Cloud) DeleteVpcEndpoints(who Caller, ids []string) ([]UnsuccessfulItem, error) {
	if len(ids) == 0 {
		return nil, awserr.MissingParameter("VpcEndpointId")
	}
	var out []UnsuccessfulItem
	err := c.update(who, func(tx *Tx) error {
		out = nil
		for _, id := range ids {
			if err := kindVpcEndpoint.checkID(id); err != nil {
				out = append(out, unsuccessful(id, err))
				continue
			}
			e, err := load[VpcEndpoint](tx, kindVpcEndpoint, id)
			if awserr.HasCode(err, kindVpcEndpoint.notFoundCode) {
				out = append(out, unsuccessful(id, awserr.New("InvalidVpcEndpoint.NotFound", "The Vpc Endpoint Id '%s' does not exist", id)))
				continue
			} else if err != nil {
				return err
			}
			if err := tx.deleteEndpoint(e); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

func (tx *Tx) deleteEndpoint(e *VpcEndpoint) error {
	for _, s := range append([]EndpointInterface(nil), e.Subnets...) {
		if err := tx.removeEndpointSubnet(e, s.SubnetID); err != nil {
			return err
		}
	}
	if err := tx.removeEndpointRoutes(e, e.RouteTables, false); err != nil {
		return err
	}
	e.setState(tx, EndpointDeleted)
	if err := tx.disconnect(e); err != nil {
		return err
	}
	if err := tx.dropNotifications(func(n *ConnectionNotification) bool { return n.EndpointID == e.ID }); err != nil {
		return err
	}
	return tx.remove(kindVpcEndpoint, e)
}

// ExpireEndpoints expires every endpoint, in every region, that has waited
// in pendingAcceptance for longer than ttl (PendingAcceptanceTTL if 0),
// with its connection. The daemon calls it periodically; it answers how
// many endpoints expired.
func (c *Cloud) ExpireEndpoints(ttl time.Duration) (int, error) {
	if ttl <= 0 {
		ttl = PendingAcceptanceTTL
	}
	n := 0
	for _, r := range c.Regions() {
		err := c.update(Caller{Region: r.Name}, func(tx *Tx) error {
			old, err := listAll[VpcEndpoint](tx, kindVpcEndpoint, func(e *VpcEndpoint) bool {
				return e.State == EndpointPendingAcceptance && tx.c.Now().Sub(e.StateSince) > ttl
			})
			if err != nil {
				return err
			}
			for _, e := range old {
				if err := tx.setEndpointState(e, EndpointExpired, ""); err != nil {
					return err
				}
			}
			n += len(old)
			return nil
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Route table hooks (routetable.go).

// endpointRouteTarget is checkVpcEndpointTarget: only the caller's Gateway
// Load Balancer endpoints of the table's VPC are route targets.
func (tx *Tx) endpointRouteTarget(rt *RouteTable, id string) error {
	e, err := load[VpcEndpoint](tx, kindVpcEndpoint, id)
	if err != nil {
		return err
	}
	if e.Type != EndpointTypeGatewayLoadBalancer {
		return awserr.New("RouteNotSupported", "The route target '%s' is a %s VPC endpoint; only GatewayLoadBalancer VPC endpoints can be route targets.", id, e.Type)
	}
	if e.VpcID != rt.VpcID {
		return awserr.InvalidParameterValue("Route table %s and VPC endpoint %s belong to different networks", rt.ID, id)
	}
	return nil
}

// endpointTargetActive is vpcEndpointTargetActive: the endpoint exists and
// is available.
func (tx *Tx) endpointTargetActive(id string) bool {
	e, ok, err := loadAny[VpcEndpoint](tx, kindVpcEndpoint, id)
	return err == nil && ok && e.State == EndpointAvailable
}
