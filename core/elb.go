package core

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/isthmusnet/isthmus/awserr"
)

// Elastic Load Balancing (v2): network and gateway load balancers.
//
// Isthmus has no internet, so every load balancer is internal and every
// address is a private IPv4 address of the load balancer's subnets. Each
// load balancer holds one requester-managed network interface per subnet
// (one subnet per availability zone), created in the same transaction as the
// load balancer, visible in EC2's DescribeNetworkInterfaces and refused by
// DeleteNetworkInterface.
//
// Load balancers, target groups and listeners are named by ARNs in AWS's
// formats:
//
//	arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/net/<name>/<16 hex>
//	arn:aws:elasticloadbalancing:<region>:<account>:loadbalancer/gwy/<name>/<16 hex>
//	arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<16 hex>
//	arn:aws:elasticloadbalancing:<region>:<account>:listener/net/<lb name>/<lb hex>/<16 hex>
//
// An ARN of another account, another region, or with a name that is not the
// object's answers the same NotFound as one that does not exist.

// Load balancer types and their ARN segments.
const (
	LoadBalancerNetwork = "network"
	LoadBalancerGateway = "gateway"
)

// elbRequester is the requester id of load balancer interfaces, as AWS shows it.
const elbRequester = "amazon-elb"

// maxLBSecurityGroups is how many security groups a load balancer may have.
const maxLBSecurityGroups = 5

func elbValidation(format string, args ...any) error {
	return awserr.New("ValidationError", format, args...)
}

func invalidConfig(format string, args ...any) error {
	return awserr.New("InvalidConfigurationRequest", format, args...)
}

// rangeError is AWS's message for a number outside its model's bounds.
func rangeError(field string, v, min, max int64) error {
	if v < min {
		return elbValidation("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", v, field, min)
	}
	return elbValidation("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", v, field, max)
}

// enumError is AWS's message for a value outside an enum.
func enumError(field, v string, values ...string) error {
	return elbValidation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]", v, field, strings.Join(values, ", "))
}

// elbARN returns the ARN of an ELB resource.
func elbARN(region, account, resource string) string {
	return "arn:aws:elasticloadbalancing:" + region + ":" + account + ":" + resource
}

// parseELBARN splits an ELB ARN into its resource type (loadbalancer,
// targetgroup, listener, ...) and the path after it.
func parseELBARN(s string) (resource string, path []string, ok bool) {
	f := strings.SplitN(s, ":", 6)
	if len(f) != 6 || f[0] != "arn" || f[1] == "" || f[2] != "elasticloadbalancing" || f[3] == "" || !IsAccountID(f[4]) {
		return "", nil, false
	}
	parts := strings.Split(f[5], "/")
	for _, p := range parts {
		if p == "" {
			return "", nil, false
		}
	}
	return parts[0], parts[1:], true
}

func isELBHex(s string) bool {
	if len(s) != 16 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isLBTypeSegment(s string) bool { return s == "net" || s == "gwy" || s == "app" }

// loadBalancerIDOf returns the id at the end of a load balancer ARN, if the
// ARN has that shape.
func loadBalancerIDOf(arn string) (string, bool) {
	res, p, ok := parseELBARN(arn)
	if !ok || res != "loadbalancer" || len(p) != 3 || !isLBTypeSegment(p[0]) || !isELBHex(p[2]) {
		return "", false
	}
	return p[2], true
}

// newELBID returns a fresh 16-hex-digit id for an object of kind k.
func (tx *Tx) newELBID(k *kind) string {
	for {
		var b [8]byte
		if _, err := io.ReadFull(tx.c.rand, b[:]); err != nil {
			panic(fmt.Sprintf("core: random source failed: %v", err))
		}
		id := hex.EncodeToString(b[:])
		if _, taken := tx.Get(objectKey(tx.who.Region, k, id)); !taken {
			return id
		}
	}
}

// elbMeta is the Meta of a new ELB object.
func (tx *Tx) elbMeta(k *kind, vpcID string) Meta {
	return Meta{ID: tx.newELBID(k), Owner: tx.who.Account, Region: tx.who.Region, VpcID: vpcID, Created: tx.c.Now()}
}

// LoadBalancer is a network or gateway load balancer.
type LoadBalancer struct {
	Meta
	Name          string `json:"name"`
	Type          string `json:"type"`             // network | gateway
	Scheme        string `json:"scheme,omitempty"` // internal (network only)
	IPAddressType string `json:"ipType"`           // ipv4
	State         string `json:"state"`            // active
	// SecurityGroups are the load balancer's groups (network only). A
	// network load balancer created without groups can never have any.
	SecurityGroups []string `json:"groups,omitempty"`
	// EnforcePrivateLinkInbound is "on" or "off" for a network load
	// balancer with security groups: whether its inbound rules apply to
	// traffic arriving through PrivateLink.
	EnforcePrivateLinkInbound string             `json:"plInbound,omitempty"`
	Zones                     []LoadBalancerZone `json:"zones"`
	Attributes                map[string]string  `json:"attrs"`
}

// LoadBalancerZone is one of a load balancer's availability zones: its
// subnet, and the requester-managed network interface holding the load
// balancer's address there.
type LoadBalancerZone struct {
	ZoneName           string `json:"az"`
	ZoneID             string `json:"azId"`
	SubnetID           string `json:"subnet"`
	NetworkInterfaceID string `json:"eni"`
	PrivateIP          string `json:"ip"`
	// FixedIP: the address was asked for in a SubnetMapping.
	FixedIP bool `json:"fixed,omitempty"`
}

func (lb *LoadBalancer) filter(string) ([]string, bool) { return nil, false }

// typeSegment is the load balancer's ARN segment: net or gwy.
func (lb *LoadBalancer) typeSegment() string {
	if lb.Type == LoadBalancerGateway {
		return "gwy"
	}
	return "net"
}

// ARN is the load balancer's ARN.
func (lb *LoadBalancer) ARN() string {
	return elbARN(lb.Region, lb.Owner, "loadbalancer/"+lb.typeSegment()+"/"+lb.Name+"/"+lb.ID)
}

// DNSName is the load balancer's DNS name, <name>-<id>.elb.<region>.amazonaws.com.
// Gateway load balancers receive traffic only through endpoints and have none.
func (lb *LoadBalancer) DNSName() string {
	if lb.Type == LoadBalancerGateway {
		return ""
	}
	return lb.Name + "-" + lb.ID + ".elb." + lb.Region + ".amazonaws.com"
}

// CanonicalHostedZoneID is the Route 53 zone of network load balancers in
// the load balancer's region ("" for gateway load balancers).
func (lb *LoadBalancer) CanonicalHostedZoneID() string {
	if lb.Type == LoadBalancerGateway {
		return ""
	}
	return nlbHostedZone(lb.Region)
}

// nlbHostedZones are AWS's Route 53 hosted zones for network load
// balancers (the "Network Load Balancers" column of AWS's ELB endpoint table).
var nlbHostedZones = map[string]string{
	"af-south-1": "Z203XCE67M25HM", "ap-east-1": "Z12Y7K3UBGUAD1",
	"ap-northeast-1": "Z31USIVHYNEOWT", "ap-northeast-2": "ZIBE1TIR4HY56", "ap-northeast-3": "Z1GWIQ4HH19I5X",
	"ap-south-1": "ZVDDRBQ08TROA", "ap-south-2": "Z0711778386UTO08407HT",
	"ap-southeast-1": "ZKVM4W9LS7TM", "ap-southeast-2": "ZCT6FZBF4DROD", "ap-southeast-3": "Z01971771FYVNCOVWJU1G",
	"ca-central-1": "Z2EPGBW3API2WT", "eu-central-1": "Z3F0SRJ5LGBH90", "eu-central-2": "Z02239872DOALSIDCX66S",
	"eu-north-1": "Z1UDT6IFJ4EJM", "eu-south-1": "Z23146JA1KNAFP", "eu-south-2": "Z1011216NVTVYADP1SSV",
	"eu-west-1": "Z2IFOLAFXWLO4F", "eu-west-2": "ZD4D7Y8KGAS4G", "eu-west-3": "Z1CMS0P5QUZ6D5",
	"me-central-1": "Z00282643NTTLPANJJG2P", "me-south-1": "Z3QSRYVP46NYYV", "sa-east-1": "ZTK26PT1VY4CU",
	"us-east-1": "Z26RNL4JYFTOTI", "us-east-2": "ZLMOA37VPKANP", "us-west-1": "Z24FKFUX50B4VW",
	"us-west-2": "Z18D5FSROUN65G",
}

// nlbHostedZone returns the region's zone, or for a region missing from
// the table a stable zone id derived from its name.
func nlbHostedZone(region string) string {
	if z, ok := nlbHostedZones[region]; ok {
		return z
	}
	sum := sha256.Sum256([]byte("nlb/" + region))
	return "Z" + strings.ToUpper(hex.EncodeToString(sum[:]))[:13]
}

// interfaceDescription is the description of the load balancer's network
// interfaces, as AWS writes it: "ELB net/<name>/<id>".
func (lb *LoadBalancer) interfaceDescription() string {
	return "ELB " + lb.typeSegment() + "/" + lb.Name + "/" + lb.ID
}

func (lb *LoadBalancer) interfaceType() string {
	if lb.Type == LoadBalancerGateway {
		return "gateway_load_balancer"
	}
	return "network_load_balancer"
}

// HasZone reports whether the load balancer has a subnet in zone name.
func (lb *LoadBalancer) HasZone(name string) bool {
	for _, z := range lb.Zones {
		if z.ZoneName == name {
			return true
		}
	}
	return false
}

func lbNotFound(arn string) error {
	return awserr.New("LoadBalancerNotFound", "Load balancer '%s' not found", arn)
}

func invalidLBARN(arn string) error {
	return elbValidation("'%s' is not a valid load balancer ARN", arn)
}

// lookupLoadBalancer returns the load balancer arn names, whoever owns it;
// nil if there is none. A malformed ARN is a ValidationError.
func (tx *Tx) lookupLoadBalancer(arn string) (*LoadBalancer, error) {
	id, ok := loadBalancerIDOf(arn)
	if !ok {
		return nil, invalidLBARN(arn)
	}
	lb, found, err := getJSON[LoadBalancer](tx, objectKey(tx.who.Region, kindLoadBalancer, id))
	if err != nil || !found || lb.ARN() != arn {
		return nil, err
	}
	return lb, nil
}

// loadLoadBalancer returns the caller's load balancer arn names, with ELB's
// answers: ValidationError for a malformed ARN, LoadBalancerNotFound for
// one that is missing or another account's.
func (tx *Tx) loadLoadBalancer(arn string) (*LoadBalancer, error) {
	lb, err := tx.lookupLoadBalancer(arn)
	if err != nil {
		return nil, err
	}
	if lb == nil || lb.Owner != tx.who.Account {
		return nil, lbNotFound(arn)
	}
	return lb, nil
}

// findLoadBalancer returns the caller's load balancer arn names, or nil if
// the ARN is malformed, missing or another account's: for other services
// (endpoint services) that answer such ARNs with their own codes.
func (tx *Tx) findLoadBalancer(arn string) (*LoadBalancer, error) {
	lb, err := tx.lookupLoadBalancer(arn)
	if awserr.HasCode(err, "ValidationError") {
		return nil, nil
	}
	if err != nil || lb == nil || lb.Owner != tx.who.Account {
		return nil, err
	}
	return lb, nil
}

// loadBalancerAnyOwner returns the load balancer arn names whoever owns it
// (the ARN names the owner), or nil: for lookups on behalf of another
// account, such as a consumer's endpoint reaching a provider's service.
func (tx *Tx) loadBalancerAnyOwner(arn string) (*LoadBalancer, error) {
	lb, err := tx.lookupLoadBalancer(arn)
	if awserr.HasCode(err, "ValidationError") {
		return nil, nil
	}
	return lb, err
}

// LoadBalancerByARN returns the caller's load balancer named by arn, with
// ELB's errors.
func (c *Cloud) LoadBalancerByARN(who Caller, arn string) (*LoadBalancer, error) {
	var lb *LoadBalancer
	err := c.view(who, func(tx *Tx) error {
		var err error
		lb, err = tx.loadLoadBalancer(arn)
		return err
	})
	return lb, err
}

// A loadBalancerUser names what keeps a load balancer from being deleted
// (e.g. "vpce-svc-0123..."), or "" if nothing of its kind does. Other parts
// of the core register one with registerLoadBalancerUser, in an init
// function: the endpoint services register theirs so that
// DeleteLoadBalancer answers ResourceInUse while a service uses the load
// balancer.
type loadBalancerUser func(tx *Tx, lb *LoadBalancer) (string, error)

var loadBalancerUsers []loadBalancerUser

func registerLoadBalancerUser(f loadBalancerUser) {
	loadBalancerUsers = append(loadBalancerUsers, f)
}

// loadBalancerInUse returns what uses lb, or "".
func (tx *Tx) loadBalancerInUse(lb *LoadBalancer) (string, error) {
	for _, f := range loadBalancerUsers {
		user, err := f(tx, lb)
		if err != nil || user != "" {
			return user, err
		}
	}
	return "", nil
}

// SubnetMapping is one subnet of a load balancer, optionally with the
// private address the load balancer takes in it.
type SubnetMapping struct {
	SubnetID           string
	PrivateIPv4Address string
}

// CreateLoadBalancerInput is what CreateLoadBalancer takes. Exactly one of
// Subnets and SubnetMappings is given.
type CreateLoadBalancerInput struct {
	Name           string
	Type           string // "": application (refused)
	Scheme         string // "": internal (AWS's default is internet-facing, which Isthmus cannot serve)
	IPAddressType  string // "": ipv4
	Subnets        []string
	SubnetMappings []SubnetMapping
	SecurityGroups []string
	Tags           []Tag
}

var elbNameRE = regexp.MustCompile(`^[A-Za-z0-9-]+$`)

// checkELBName validates a load balancer or target group name: at most 32
// letters, digits and hyphens, not beginning or ending with a hyphen.
func checkELBName(noun, name string) error {
	switch {
	case name == "":
		return elbValidation("%s name cannot be empty", noun)
	case len(name) > 32:
		return elbValidation("%s name '%s' cannot be longer than '32' characters", noun, name)
	case !elbNameRE.MatchString(name):
		return elbValidation("%s name '%s' can only contain characters that are alphanumeric characters or hyphens(-)", noun, name)
	case strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-"):
		return elbValidation("%s name '%s' cannot begin or end with '-'", noun, name)
	}
	return nil
}

// CreateLoadBalancer creates an internal network or gateway load balancer
// with one requester-managed network interface per subnet. As on AWS the
// call is idempotent: the same name with the same settings answers the
// existing load balancer; with other settings it is
// DuplicateLoadBalancerName. The load balancer is active at once: Isthmus
// answers "provisioning" in the create response (as AWS does) and "active"
// from then on.
func (c *Cloud) CreateLoadBalancer(who Caller, in CreateLoadBalancerInput) (*LoadBalancer, error) {
	if err := checkELBName("Load balancer", in.Name); err != nil {
		return nil, err
	}
	if strings.HasPrefix(in.Name, "internal-") {
		return nil, elbValidation("Load balancer name '%s' cannot begin with 'internal-'", in.Name)
	}
	switch in.Type {
	case LoadBalancerNetwork, LoadBalancerGateway:
	case "", "application":
		return nil, invalidConfig("Application load balancers are not supported by Isthmus: specify Type 'network' or 'gateway'")
	default:
		return nil, enumError("type", in.Type, "application", "network", "gateway")
	}
	switch in.Scheme {
	case "":
		if in.Type == LoadBalancerNetwork {
			in.Scheme = "internal"
		}
	case "internal":
		if in.Type == LoadBalancerGateway {
			return nil, elbValidation("A scheme cannot be specified for Gateway Load Balancers")
		}
	case "internet-facing":
		if in.Type == LoadBalancerGateway {
			return nil, elbValidation("A scheme cannot be specified for Gateway Load Balancers")
		}
		return nil, awserr.New("InvalidScheme", "Isthmus has no internet: load balancers can only be internal. Specify Scheme 'internal'")
	default:
		return nil, enumError("scheme", in.Scheme, "internet-facing", "internal")
	}
	if err := checkLBIPAddressType(in.IPAddressType); err != nil {
		return nil, err
	}
	if in.IPAddressType == "" {
		in.IPAddressType = "ipv4"
	}
	maps, err := subnetMappings(in.Subnets, in.SubnetMappings)
	if err != nil {
		return nil, err
	}
	if in.Type == LoadBalancerGateway && in.SecurityGroups != nil {
		return nil, elbValidation("Security groups are not supported for load balancers with type 'gateway'")
	}
	if err := checkELBTags(in.Tags); err != nil {
		return nil, err
	}
	var lb *LoadBalancer
	err = c.update(who, func(tx *Tx) error {
		subnets, err := tx.lbSubnets(in.Type, maps)
		if err != nil {
			return err
		}
		vpcID := subnets[0].VpcID
		groups, err := tx.lbSecurityGroups(vpcID, in.SecurityGroups)
		if err != nil {
			return err
		}
		existing, err := list[LoadBalancer](tx, kindLoadBalancer, func(o *LoadBalancer) bool { return o.Name == in.Name })
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			if e := existing[0]; e.sameSettings(in, maps, groups) {
				lb = e
				return nil
			}
			return awserr.New("DuplicateLoadBalancerName", "A load balancer with the same name '%s' exists, but with different settings", in.Name)
		}
		lb = &LoadBalancer{
			Meta:           tx.elbMeta(kindLoadBalancer, vpcID),
			Name:           in.Name,
			Type:           in.Type,
			Scheme:         in.Scheme,
			IPAddressType:  in.IPAddressType,
			State:          "active",
			SecurityGroups: groups,
			Attributes:     lbDefaultAttributes(in.Type),
		}
		if len(groups) > 0 {
			lb.EnforcePrivateLinkInbound = "on"
		}
		lb.Tags = mergeTags(nil, in.Tags)
		for i, s := range subnets {
			if err := tx.addLoadBalancerZone(lb, s, maps[i].PrivateIPv4Address); err != nil {
				return err
			}
		}
		sortZones(lb.Zones)
		return tx.save(kindLoadBalancer, lb)
	})
	if err != nil {
		return nil, err
	}
	return lb, nil
}

func checkLBIPAddressType(t string) error {
	switch t {
	case "", "ipv4":
		return nil
	case "dualstack", "dualstack-without-public-ipv4":
		return invalidConfig("Isthmus has no IPv6: the IP address type of a load balancer can only be 'ipv4'")
	}
	return enumError("ipAddressType", t, "ipv4", "dualstack", "dualstack-without-public-ipv4")
}

// subnetMappings merges the two ways of naming subnets.
func subnetMappings(subnets []string, maps []SubnetMapping) ([]SubnetMapping, error) {
	switch {
	case len(subnets) > 0 && len(maps) > 0:
		return nil, elbValidation("You can specify subnets or subnet mappings, but not both")
	case len(subnets) == 0 && len(maps) == 0:
		return nil, elbValidation("At least one subnet must be specified")
	case len(maps) > 0:
		for _, m := range maps {
			if m.SubnetID == "" {
				return nil, elbValidation("A subnet ID must be specified in every subnet mapping")
			}
		}
		return maps, nil
	}
	out := make([]SubnetMapping, len(subnets))
	for i, s := range subnets {
		out[i] = SubnetMapping{SubnetID: s}
	}
	return out, nil
}

// lbSubnets loads the subnets of a load balancer: each the caller's, all in
// one VPC, at most one per availability zone.
func (tx *Tx) lbSubnets(lbType string, maps []SubnetMapping) ([]*Subnet, error) {
	out := make([]*Subnet, len(maps))
	zones := map[string]bool{}
	for i, m := range maps {
		s, err := load[Subnet](tx, kindSubnet, m.SubnetID)
		if err != nil {
			if _, ok := awserr.As(err); ok {
				return nil, awserr.New("SubnetNotFound", "The subnet ID '%s' is not valid", m.SubnetID)
			}
			return nil, err
		}
		if i > 0 && s.VpcID != out[0].VpcID {
			return nil, awserr.New("InvalidSubnet", "The subnets '%s' and '%s' are in different VPCs: a load balancer's subnets must all be in one VPC", out[0].ID, s.ID)
		}
		if zones[s.AvailabilityZone] {
			return nil, invalidConfig("A load balancer cannot be attached to multiple subnets in the same Availability Zone")
		}
		zones[s.AvailabilityZone] = true
		if m.PrivateIPv4Address != "" && lbType == LoadBalancerGateway {
			return nil, invalidConfig("Private IPv4 addresses cannot be specified for Gateway Load Balancers")
		}
		out[i] = s
	}
	return out, nil
}

// lbSecurityGroups checks a network load balancer's security groups: each
// the caller's and in vpcID. It returns them without duplicates.
func (tx *Tx) lbSecurityGroups(vpcID string, ids []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		g, err := load[SecurityGroup](tx, kindSecurityGroup, id)
		if err != nil {
			if _, ok := awserr.As(err); ok {
				return nil, awserr.New("InvalidSecurityGroup", "Security group '%s' does not exist", id)
			}
			return nil, err
		}
		if g.VpcID != vpcID {
			return nil, awserr.New("InvalidSecurityGroup", "Security group '%s' does not belong to VPC '%s'", id, vpcID)
		}
		out = append(out, id)
	}
	if len(out) > maxLBSecurityGroups {
		return nil, elbValidation("A load balancer can have at most %d security groups", maxLBSecurityGroups)
	}
	return out, nil
}

// sameSettings reports whether a create call asks for exactly lb, so that
// repeating it is idempotent.
func (lb *LoadBalancer) sameSettings(in CreateLoadBalancerInput, maps []SubnetMapping, groups []string) bool {
	if lb.Type != in.Type || lb.Scheme != in.Scheme || lb.IPAddressType != in.IPAddressType || len(lb.Zones) != len(maps) {
		return false
	}
	for _, m := range maps {
		found := false
		for _, z := range lb.Zones {
			if z.SubnetID == m.SubnetID && (m.PrivateIPv4Address == "" && !z.FixedIP || m.PrivateIPv4Address == z.PrivateIP) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return sameSet(lb.SecurityGroups, groups)
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, v := range a {
		m[v] = true
	}
	for _, v := range b {
		if !m[v] {
			return false
		}
	}
	return true
}

// addLoadBalancerZone creates lb's network interface in s (with address ip,
// or the lowest free one) and records the zone.
func (tx *Tx) addLoadBalancerZone(lb *LoadBalancer, s *Subnet, ip string) error {
	n, err := tx.createInterface(interfaceSpec{
		SubnetID:         s.ID,
		PrivateIP:        ip,
		Groups:           lb.SecurityGroups,
		NoGroups:         len(lb.SecurityGroups) == 0,
		Description:      lb.interfaceDescription(),
		InterfaceType:    lb.interfaceType(),
		RequesterManaged: true,
		RequesterID:      elbRequester,
	})
	if err != nil {
		e, ok := awserr.As(err)
		switch {
		case !ok:
			return err
		case e.Code == "InvalidIPAddress.InUse":
			return invalidConfig("The private IPv4 address '%s' is already in use in subnet '%s'", ip, s.ID)
		case e.Code == "InsufficientFreeAddressesInSubnet":
			return awserr.New("InvalidSubnet", "Not enough IP space available in %s", s.ID)
		case e.Code == "InvalidParameterValue" && ip != "":
			return invalidConfig("The private IPv4 address '%s' is not valid for subnet '%s': %s", ip, s.ID, e.Message)
		}
		return err
	}
	lb.Zones = append(lb.Zones, LoadBalancerZone{
		ZoneName:           s.AvailabilityZone,
		ZoneID:             s.AvailabilityZoneID,
		SubnetID:           s.ID,
		NetworkInterfaceID: n.ID,
		PrivateIP:          n.PrivateIP,
		FixedIP:            ip != "",
	})
	return nil
}

// removeLoadBalancerZone deletes the network interface of zone z.
func (tx *Tx) removeLoadBalancerZone(z LoadBalancerZone) error {
	n, ok, err := loadAny[NetworkInterface](tx, kindENI, z.NetworkInterfaceID)
	if err != nil || !ok {
		return err
	}
	return tx.deleteInterface(n)
}

func sortZones(zs []LoadBalancerZone) {
	sort.Slice(zs, func(i, j int) bool { return zs[i].ZoneName < zs[j].ZoneName })
}

// MarkerPage asks for one page of an ELB Describe call: at most PageSize
// items (nil: all; 1 to 400) after Marker.
type MarkerPage struct {
	PageSize *int32
	Marker   string
}

// pageByMarker cuts one page out of items sorted by key. The marker is the
// key of the last item returned, opaque to clients.
func pageByMarker[T any](items []T, key func(T) string, p MarkerPage) ([]T, string, error) {
	if p.PageSize != nil && (*p.PageSize < 1 || *p.PageSize > 400) {
		return nil, "", rangeError("pageSize", int64(*p.PageSize), 1, 400)
	}
	start := 0
	if p.Marker != "" {
		after, err := base64.RawURLEncoding.DecodeString(p.Marker)
		if err != nil || len(after) == 0 {
			return nil, "", elbValidation("The marker '%s' is not valid", p.Marker)
		}
		for start < len(items) && key(items[start]) <= string(after) {
			start++
		}
	}
	items = items[start:]
	if p.PageSize == nil || int(*p.PageSize) >= len(items) {
		return items, "", nil
	}
	items = items[:*p.PageSize]
	return items, base64.RawURLEncoding.EncodeToString([]byte(key(items[len(items)-1]))), nil
}

// maxDescribeARNs is how many ARNs one Describe call may name.
const maxDescribeARNs = 20

// DescribeLoadBalancers lists the caller's load balancers, or those named by
// ARN or by name (each must exist), sorted by name.
func (c *Cloud) DescribeLoadBalancers(who Caller, arns, names []string, p MarkerPage) ([]*LoadBalancer, string, error) {
	if len(arns) > 0 && len(names) > 0 {
		return nil, "", elbValidation("Load balancer names and load balancer ARNs cannot be specified at the same time")
	}
	if len(arns) > maxDescribeARNs {
		return nil, "", elbValidation("1 validation error detected: Value at 'loadBalancerArns' failed to satisfy constraint: Member must have length less than or equal to %d", maxDescribeARNs)
	}
	var out []*LoadBalancer
	err := c.view(who, func(tx *Tx) error {
		var err error
		if len(arns) > 0 {
			seen := map[string]bool{}
			for _, arn := range arns {
				if seen[arn] {
					continue
				}
				seen[arn] = true
				lb, err := tx.loadLoadBalancer(arn)
				if awserr.HasCode(err, "LoadBalancerNotFound") {
					return awserr.New("LoadBalancerNotFound", "One or more load balancers not found")
				}
				if err != nil {
					return err
				}
				out = append(out, lb)
			}
			return nil
		}
		want := map[string]bool{}
		for _, n := range names {
			want[n] = true
		}
		out, err = list[LoadBalancer](tx, kindLoadBalancer, func(lb *LoadBalancer) bool { return len(names) == 0 || want[lb.Name] })
		if err != nil {
			return err
		}
		if len(names) > 0 && len(out) < len(want) {
			have := map[string]bool{}
			for _, lb := range out {
				have[lb.Name] = true
			}
			var missing []string
			for _, n := range names {
				if !have[n] && !containsString(missing, n) {
					missing = append(missing, n)
				}
			}
			return awserr.New("LoadBalancerNotFound", "Load balancers '[%s]' not found", strings.Join(missing, ", "))
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return pageByMarker(out, func(lb *LoadBalancer) string { return lb.Name }, p)
}

// DeleteLoadBalancer deletes a load balancer with its listeners and network
// interfaces; its target groups and their targets stay. As on AWS, a load
// balancer that does not exist (or is another account's) is not an error.
// Deletion protection refuses it (OperationNotPermitted), and so does a
// registered user such as an endpoint service (ResourceInUse).
func (c *Cloud) DeleteLoadBalancer(who Caller, arn string) error {
	return c.update(who, func(tx *Tx) error {
		lb, err := tx.loadLoadBalancer(arn)
		if awserr.HasCode(err, "LoadBalancerNotFound") {
			return nil
		}
		if err != nil {
			return err
		}
		if lb.Attributes["deletion_protection.enabled"] == "true" {
			return awserr.New("OperationNotPermitted", "Load balancer '%s' cannot be deleted because deletion protection is enabled", arn)
		}
		user, err := tx.loadBalancerInUse(lb)
		if err != nil {
			return err
		}
		if user != "" {
			return awserr.New("ResourceInUse", "Load balancer '%s' cannot be deleted because it is currently associated with another service (%s)", arn, user)
		}
		listeners, err := tx.listenersOf(lb)
		if err != nil {
			return err
		}
		for _, l := range listeners {
			if err := tx.remove(kindListener, l); err != nil {
				return err
			}
		}
		for _, z := range lb.Zones {
			if err := tx.removeLoadBalancerZone(z); err != nil {
				return err
			}
		}
		return tx.remove(kindLoadBalancer, lb)
	})
}

// Attribute is a key and value of a load balancer or target group.
type Attribute struct {
	Key   string
	Value string
}

// attrSpec is one attribute a kind of object has: its default and its
// check.
type attrSpec struct {
	key   string
	def   string
	check func(v string) error
}

func boolAttr(key string) func(string) error {
	return func(v string) error {
		if v != "true" && v != "false" {
			return elbValidation("The value of attribute '%s' must be 'true' or 'false', not '%s'", key, v)
		}
		return nil
	}
}

func intAttr(key string, min, max int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < min || n > max {
			return elbValidation("The value of attribute '%s' must be an integer from %d to %d, not '%s'", key, min, max, v)
		}
		return nil
	}
}

func enumAttr(key string, values ...string) func(string) error {
	return func(v string) error {
		if !containsString(values, v) {
			return elbValidation("The value of attribute '%s' must be one of %s, not '%s'", key, strings.Join(values, ", "), v)
		}
		return nil
	}
}

func anyAttr(string) error { return nil }

// lbAttrSpecs are the attributes of each type of load balancer, in the
// order DescribeLoadBalancerAttributes lists them, with AWS's defaults.
func lbAttrSpecs(lbType string) []attrSpec {
	if lbType == LoadBalancerGateway {
		return []attrSpec{
			{"deletion_protection.enabled", "false", boolAttr("deletion_protection.enabled")},
			{"load_balancing.cross_zone.enabled", "false", boolAttr("load_balancing.cross_zone.enabled")},
		}
	}
	return []attrSpec{
		{"access_logs.s3.enabled", "false", func(v string) error {
			if err := boolAttr("access_logs.s3.enabled")(v); err != nil {
				return err
			}
			if v == "true" {
				return invalidConfig("Access logs cannot be enabled: Isthmus has no S3 to deliver them to")
			}
			return nil
		}},
		{"access_logs.s3.bucket", "", anyAttr},
		{"access_logs.s3.prefix", "", anyAttr},
		{"deletion_protection.enabled", "false", boolAttr("deletion_protection.enabled")},
		{"ipv6.deny_all_igw_traffic", "true", boolAttr("ipv6.deny_all_igw_traffic")},
		{"load_balancing.cross_zone.enabled", "false", boolAttr("load_balancing.cross_zone.enabled")},
		{"dns_record.client_routing_policy", "any_availability_zone", enumAttr("dns_record.client_routing_policy",
			"availability_zone_affinity", "partial_availability_zone_affinity", "any_availability_zone")},
		{"zonal_shift.config.enabled", "false", boolAttr("zonal_shift.config.enabled")},
		{"secondary_ips.auto_assigned.per_subnet", "0", intAttr("secondary_ips.auto_assigned.per_subnet", 0, 7)},
	}
}

func lbDefaultAttributes(lbType string) map[string]string {
	m := map[string]string{}
	for _, s := range lbAttrSpecs(lbType) {
		m[s.key] = s.def
	}
	return m
}

// listAttributes lists attrs in the specs' order, defaults filling gaps.
func listAttributes(specs []attrSpec, attrs map[string]string) []Attribute {
	out := make([]Attribute, len(specs))
	for i, s := range specs {
		v, ok := attrs[s.key]
		if !ok {
			v = s.def
		}
		out[i] = Attribute{Key: s.key, Value: v}
	}
	return out
}

// DescribeLoadBalancerAttributes lists every attribute of a load balancer.
func (c *Cloud) DescribeLoadBalancerAttributes(who Caller, arn string) ([]Attribute, error) {
	var out []Attribute
	err := c.view(who, func(tx *Tx) error {
		lb, err := tx.loadLoadBalancer(arn)
		if err != nil {
			return err
		}
		out = listAttributes(lbAttrSpecs(lb.Type), lb.Attributes)
		return nil
	})
	return out, err
}

// ModifyLoadBalancerAttributes sets attributes of a load balancer and
// returns all of them. A key the load balancer's type does not have is a
// ValidationError; nothing changes unless every attribute is valid.
func (c *Cloud) ModifyLoadBalancerAttributes(who Caller, arn string, attrs []Attribute) ([]Attribute, error) {
	if len(attrs) == 0 {
		return nil, elbValidation("At least one attribute must be specified")
	}
	var out []Attribute
	err := c.update(who, func(tx *Tx) error {
		lb, err := tx.loadLoadBalancer(arn)
		if err != nil {
			return err
		}
		specs := lbAttrSpecs(lb.Type)
		for _, a := range attrs {
			s, ok := findAttrSpec(specs, a.Key)
			if !ok {
				return elbValidation("Load balancer attribute key '%s' is not recognized", a.Key)
			}
			if err := s.check(a.Value); err != nil {
				return err
			}
			if a.Key == "secondary_ips.auto_assigned.per_subnet" {
				old, _ := strconv.Atoi(lb.Attributes[a.Key])
				if n, _ := strconv.Atoi(a.Value); n < old {
					return invalidConfig("The number of secondary IP addresses per subnet cannot be decreased (from %d to %d)", old, n)
				}
			}
			if lb.Attributes == nil {
				lb.Attributes = lbDefaultAttributes(lb.Type)
			}
			lb.Attributes[a.Key] = a.Value
		}
		out = listAttributes(specs, lb.Attributes)
		return tx.save(kindLoadBalancer, lb)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func findAttrSpec(specs []attrSpec, key string) (attrSpec, bool) {
	for _, s := range specs {
		if s.key == key {
			return s, true
		}
	}
	return attrSpec{}, false
}

// SetSecurityGroups replaces the security groups of a network load
// balancer (and of its network interfaces). As on AWS, a network load
// balancer created without security groups can never have any, one created
// with them must keep at least one, and gateway load balancers have none.
// enforce ("on", "off" or "" for unchanged) sets whether inbound rules apply
// to PrivateLink traffic. It returns the groups and the enforce setting.
func (c *Cloud) SetSecurityGroups(who Caller, arn string, groups []string, enforce string) ([]string, string, error) {
	switch enforce {
	case "", "on", "off":
	default:
		return nil, "", enumError("enforceSecurityGroupInboundRulesOnPrivateLinkTraffic", enforce, "on", "off")
	}
	var lb *LoadBalancer
	err := c.update(who, func(tx *Tx) error {
		var err error
		if lb, err = tx.loadLoadBalancer(arn); err != nil {
			return err
		}
		switch {
		case lb.Type == LoadBalancerGateway:
			return invalidConfig("Security groups are not supported for Gateway Load Balancers")
		case len(lb.SecurityGroups) == 0:
			return invalidConfig("You cannot set security groups on a Network Load Balancer which was created without any security groups")
		case len(groups) == 0:
			return invalidConfig("You cannot remove every security group from a Network Load Balancer that was created with security groups")
		}
		ids, err := tx.lbSecurityGroups(lb.VpcID, groups)
		if err != nil {
			return err
		}
		lb.SecurityGroups = ids
		if enforce != "" {
			lb.EnforcePrivateLinkInbound = enforce
		}
		for _, z := range lb.Zones {
			n, ok, err := loadAny[NetworkInterface](tx, kindENI, z.NetworkInterfaceID)
			if err != nil {
				return err
			}
			s, sok, err := loadAny[Subnet](tx, kindSubnet, z.SubnetID)
			if err != nil {
				return err
			}
			if !ok || !sok {
				continue
			}
			if n.Groups, n.GroupNames, err = tx.interfaceGroups(s, ids); err != nil {
				return err
			}
			if err := tx.save(kindENI, n); err != nil {
				return err
			}
		}
		return tx.save(kindLoadBalancer, lb)
	})
	if err != nil {
		return nil, "", err
	}
	return lb.SecurityGroups, lb.EnforcePrivateLinkInbound, nil
}

// SetSubnets replaces the subnets of a load balancer: interfaces in subnets
// it keeps stay (with their addresses), those in subnets it drops are
// deleted, new subnets get new interfaces. As on AWS, a gateway load
// balancer must keep every subnet it has. A kept subnet cannot change its
// fixed address.
func (c *Cloud) SetSubnets(who Caller, arn string, subnets []string, maps []SubnetMapping, ipType string) (*LoadBalancer, error) {
	if err := checkLBIPAddressType(ipType); err != nil {
		return nil, err
	}
	ms, err := subnetMappings(subnets, maps)
	if err != nil {
		return nil, err
	}
	var lb *LoadBalancer
	err = c.update(who, func(tx *Tx) error {
		var err error
		if lb, err = tx.loadLoadBalancer(arn); err != nil {
			return err
		}
		ss, err := tx.lbSubnets(lb.Type, ms)
		if err != nil {
			return err
		}
		if ss[0].VpcID != lb.VpcID {
			return awserr.New("InvalidSubnet", "The subnet '%s' is not in the load balancer's VPC '%s'", ss[0].ID, lb.VpcID)
		}
		want := map[string]int{}
		for i, s := range ss {
			want[s.ID] = i
		}
		var kept []LoadBalancerZone
		for _, z := range lb.Zones {
			i, ok := want[z.SubnetID]
			if !ok {
				if lb.Type == LoadBalancerGateway {
					return invalidConfig("Subnets cannot be removed from a Gateway Load Balancer: subnet '%s' is missing", z.SubnetID)
				}
				if err := tx.removeLoadBalancerZone(z); err != nil {
					return err
				}
				continue
			}
			if ip := ms[i].PrivateIPv4Address; ip != "" && ip != z.PrivateIP {
				return invalidConfig("The private IPv4 address of the load balancer in subnet '%s' cannot be changed", z.SubnetID)
			}
			kept = append(kept, z)
			delete(want, z.SubnetID)
		}
		lb.Zones = kept
		for i, s := range ss {
			if _, add := want[s.ID]; add {
				if err := tx.addLoadBalancerZone(lb, s, ms[i].PrivateIPv4Address); err != nil {
					return err
				}
			}
		}
		sortZones(lb.Zones)
		return tx.save(kindLoadBalancer, lb)
	})
	if err != nil {
		return nil, err
	}
	return lb, nil
}
