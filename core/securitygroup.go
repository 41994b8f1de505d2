package core

import (
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/isthmusnet/isthmus/awserr"
)

// SecurityGroup is a stateful firewall attached to network interfaces. Its
// name is unique in its VPC (case-insensitively) and never changes.
type SecurityGroup struct {
	Meta
	Name        string   `json:"name"`
	Description string   `json:"desc"`
	Rules       []SGRule `json:"rules,omitempty"`
}

// SGRule is one rule of a group: a direction, a protocol and port range,
// and exactly one peer (CIDR, prefix list or referenced group).
type SGRule struct {
	ID          string `json:"id"` // sgr-...
	Egress      bool   `json:"egress,omitempty"`
	Protocol    string `json:"proto"` // "-1" (all), "tcp", "udp", "icmp", "icmpv6" or a number
	FromPort    int32  `json:"from"`  // -1 when the protocol has no ports
	ToPort      int32  `json:"to"`
	CidrIPv4    string `json:"cidr4,omitempty"`
	CidrIPv6    string `json:"cidr6,omitempty"`
	PrefixList  string `json:"pl,omitempty"`
	GroupID     string `json:"group,omitempty"`
	GroupOwner  string `json:"groupOwner,omitempty"`
	Description string `json:"desc,omitempty"`
	// GroupName is the referenced group's name, kept for the
	// ip-permission.group-name filter (group names never change).
	GroupName string `json:"groupName,omitempty"`
	// Tags are the rule's own tags (TagSpecifications of Authorize with
	// ResourceType security-group-rule).
	Tags []Tag `json:"tags,omitempty"`
}

// ARN is the group's ARN.
func (g *SecurityGroup) ARN() string {
	return "arn:aws:ec2:" + g.Region + ":" + g.Owner + ":security-group/" + g.ID
}

// RuleARN is the ARN of one of the group's rules.
func (g *SecurityGroup) RuleARN(ruleID string) string {
	return "arn:aws:ec2:" + g.Region + ":" + g.Owner + ":security-group-rule/" + ruleID
}

// peerKey identifies a rule's peer for duplicate detection.
func (r *SGRule) peerKey() string {
	switch {
	case r.CidrIPv4 != "":
		return "4:" + r.CidrIPv4
	case r.CidrIPv6 != "":
		return "6:" + r.CidrIPv6
	case r.PrefixList != "":
		return "pl:" + r.PrefixList
	}
	return "sg:" + r.GroupID
}

// same reports whether r and o are the same rule in AWS's sense: direction,
// protocol, ports and peer; descriptions and tags do not count.
func (r *SGRule) same(o *SGRule) bool {
	return r.Egress == o.Egress && r.Protocol == o.Protocol && r.FromPort == o.FromPort &&
		r.ToPort == o.ToPort && r.peerKey() == o.peerKey()
}

func (g *SecurityGroup) filter(name string) ([]string, bool) {
	switch name {
	case "group-id":
		return one(g.ID), true
	case "group-name":
		return one(g.Name), true
	case "description":
		return one(g.Description), true
	case "vpc-id":
		return one(g.VpcID), true
	case "ip-permission.protocol", "egress.ip-permission.protocol":
		return g.ruleValues(name, func(r SGRule) string { return r.Protocol }), true
	case "ip-permission.cidr", "egress.ip-permission.cidr":
		return g.ruleValues(name, func(r SGRule) string { return r.CidrIPv4 }), true
	case "ip-permission.ipv6-cidr", "egress.ip-permission.ipv6-cidr":
		return g.ruleValues(name, func(r SGRule) string { return r.CidrIPv6 }), true
	case "ip-permission.prefix-list-id", "egress.ip-permission.prefix-list-id":
		return g.ruleValues(name, func(r SGRule) string { return r.PrefixList }), true
	case "ip-permission.group-id", "egress.ip-permission.group-id":
		return g.ruleValues(name, func(r SGRule) string { return r.GroupID }), true
	case "ip-permission.group-name", "egress.ip-permission.group-name":
		return g.ruleValues(name, func(r SGRule) string { return r.GroupName }), true
	case "ip-permission.user-id", "egress.ip-permission.user-id":
		return g.ruleValues(name, func(r SGRule) string { return r.GroupOwner }), true
	case "ip-permission.from-port", "egress.ip-permission.from-port":
		return g.ruleValues(name, func(r SGRule) string { return itoa(r.FromPort) }), true
	case "ip-permission.to-port", "egress.ip-permission.to-port":
		return g.ruleValues(name, func(r SGRule) string { return itoa(r.ToPort) }), true
	}
	return nil, false
}

// ruleValues collects f over the rules of the filter's direction. As AWS
// documents, several rule filters may be satisfied by different rules.
func (g *SecurityGroup) ruleValues(filter string, f func(SGRule) string) []string {
	egress := strings.HasPrefix(filter, "egress.")
	var out []string
	for _, r := range g.Rules {
		if r.Egress == egress {
			if v := f(r); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// kindSecurityGroupRule describes rule ids for validation and errors. Rules
// live inside their group, so the kind is not registered (CreateTags and
// DescribeTags do not reach rules).
var kindSecurityGroupRule = &kind{name: "sgr", idPrefix: "sgr", resourceType: "security-group-rule",
	idNoun: "security group rule ID", notFoundCode: "InvalidSecurityGroupRuleId.NotFound",
	malformed: "InvalidSecurityGroupRuleId.Malformed"}

// Limits AWS documents for security groups.
const (
	maxGroupNameLen = 255
	maxGroupDescLen = 255
	maxRuleDescLen  = 255
	// maxRulesPerDirection is AWS's default quota of inbound (and, apart,
	// outbound) rules per group, counted separately for IPv4 and IPv6; a
	// rule naming a group or prefix list counts for both.
	maxRulesPerDirection = 60
)

// groupTextRE is the character set AWS allows in group names and
// descriptions: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*
var groupTextRE = regexp.MustCompile(`^[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*$`)

func noDefaultVpc() error {
	return awserr.New("VPCIdNotSpecified", "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.")
}

func missingGroup() error {
	return awserr.New("MissingParameter", "The request must contain the parameter groupName or groupId")
}

func checkGroupText(param, s string, max int) error {
	switch {
	case s == "":
		return awserr.MissingParameter(param)
	case len(s) > max:
		return awserr.InvalidParameterValue("Value (%s) for parameter %s is invalid. Length exceeds maximum of %d.", s, param, max)
	case !isASCII(s):
		return awserr.InvalidParameterValue("Value (%s) for parameter %s is invalid. Character sets beyond ASCII are not supported.", s, param)
	case !groupTextRE.MatchString(s):
		return awserr.InvalidParameterValue("Value (%s) for parameter %s is invalid. Valid characters are a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*", s, param)
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func checkRuleDescription(s string) error {
	if len(s) > maxRuleDescLen || !groupTextRE.MatchString(s) {
		return awserr.InvalidParameterValue("Invalid rule description. Valid descriptions are strings less than 256 characters from the following set:  a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*")
	}
	return nil
}

// CreateSecurityGroupInput is what CreateSecurityGroup takes.
type CreateSecurityGroupInput struct {
	GroupName   string
	Description string
	VpcID       string
	TagSpecs    []TagSpec
}

// CreateSecurityGroup creates a group in a VPC with AWS's default rules:
// no inbound rule and one outbound rule allowing everything to 0.0.0.0/0.
// Isthmus has no default VPC, so VpcID is required (VPCIdNotSpecified, as
// AWS answers an account without one).
func (c *Cloud) CreateSecurityGroup(who Caller, in CreateSecurityGroupInput) (*SecurityGroup, error) {
	if err := checkGroupText("GroupName", in.GroupName, maxGroupNameLen); err != nil {
		return nil, err
	}
	if err := checkGroupText("GroupDescription", in.Description, maxGroupDescLen); err != nil {
		return nil, err
	}
	if strings.HasPrefix(strings.ToLower(in.GroupName), "sg-") {
		return nil, awserr.InvalidParameterValue("Group names may not be in the format sg-*.")
	}
	if strings.EqualFold(in.GroupName, "default") {
		return nil, awserr.InvalidParameterValue("Cannot use reserved security group name: default")
	}
	if in.VpcID == "" {
		return nil, awserr.New("VPCIdNotSpecified", "No default VPC for this user")
	}
	tags, err := specTags(kindSecurityGroup, in.TagSpecs)
	if err != nil {
		return nil, err
	}
	var g *SecurityGroup
	err = c.update(who, func(tx *Tx) error {
		v, err := load[Vpc](tx, kindVpc, in.VpcID)
		if err != nil {
			return err
		}
		dup, err := listAll[SecurityGroup](tx, kindSecurityGroup, func(o *SecurityGroup) bool {
			return o.VpcID == v.ID && strings.EqualFold(o.Name, in.GroupName)
		})
		if err != nil {
			return err
		}
		if len(dup) > 0 {
			return awserr.New("InvalidGroup.Duplicate", "The security group '%s' already exists for VPC '%s'", in.GroupName, v.ID)
		}
		g = &SecurityGroup{
			Meta:        tx.newMeta(kindSecurityGroup, v.ID),
			Name:        in.GroupName,
			Description: in.Description,
		}
		g.Tags = tags
		g.Rules = []SGRule{{ID: tx.newID("sgr"), Egress: true, Protocol: "-1", FromPort: -1, ToPort: -1, CidrIPv4: "0.0.0.0/0"}}
		return tx.save(kindSecurityGroup, g)
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// createDefaultSecurityGroup creates v's "default" group: all traffic in
// from members of the group itself, all traffic out.
func (tx *Tx) createDefaultSecurityGroup(v *Vpc) (*SecurityGroup, error) {
	g := &SecurityGroup{
		Meta:        tx.newMeta(kindSecurityGroup, v.ID),
		Name:        "default",
		Description: "default VPC security group",
	}
	g.Rules = []SGRule{
		{ID: tx.newID("sgr"), Protocol: "-1", FromPort: -1, ToPort: -1, GroupID: g.ID, GroupOwner: g.Owner, GroupName: g.Name},
		{ID: tx.newID("sgr"), Egress: true, Protocol: "-1", FromPort: -1, ToPort: -1, CidrIPv4: "0.0.0.0/0"},
	}
	return g, tx.save(kindSecurityGroup, g)
}

// DescribeSecurityGroups lists the caller's groups by id and filters.
// GroupNames are AWS's "[Default VPC]" parameter; Isthmus has no default
// VPC, so names are answered as AWS answers an account without one
// (VPCIdNotSpecified). The group-name filter finds groups by name.
func (c *Cloud) DescribeSecurityGroups(who Caller, ids, names []string, filters []Filter, p Page) ([]*SecurityGroup, string, error) {
	if len(names) > 0 {
		return nil, "", noDefaultVpc()
	}
	var out []*SecurityGroup
	err := c.view(who, func(tx *Tx) error {
		var err error
		out, err = describe[SecurityGroup](tx, kindSecurityGroup, ids, filters)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return paginate(out, func(g *SecurityGroup) string { return g.ID }, p, 5, 1000)
}

// loadGroup returns the caller's group named by id (a name is a default-VPC
// parameter, see DescribeSecurityGroups).
func (tx *Tx) loadGroup(id, name string) (*SecurityGroup, error) {
	if name != "" {
		return nil, noDefaultVpc()
	}
	if id == "" {
		return nil, missingGroup()
	}
	return load[SecurityGroup](tx, kindSecurityGroup, id)
}

// DeleteSecurityGroup deletes one of the caller's groups and returns it. A
// VPC's default group cannot be deleted (CannotDelete); a group that a
// network interface carries, or that another group's rule references, is a
// DependencyViolation. Rules referencing the group itself do not count.
func (c *Cloud) DeleteSecurityGroup(who Caller, id, name string) (*SecurityGroup, error) {
	var g *SecurityGroup
	err := c.update(who, func(tx *Tx) error {
		var err error
		if g, err = tx.loadGroup(id, name); err != nil {
			return err
		}
		if g.Name == "default" {
			return awserr.New("CannotDelete", "the specified group: \"%s\" name: \"default\" cannot be deleted by a user", g.ID)
		}
		enis, err := listAll[NetworkInterface](tx, kindENI, func(n *NetworkInterface) bool {
			return containsString(n.Groups, g.ID)
		})
		if err != nil {
			return err
		}
		refs, err := listAll[SecurityGroup](tx, kindSecurityGroup, func(o *SecurityGroup) bool {
			if o.ID == g.ID {
				return false
			}
			for _, r := range o.Rules {
				if r.GroupID == g.ID {
					return true
				}
			}
			return false
		})
		if err != nil {
			return err
		}
		if len(enis) > 0 || len(refs) > 0 {
			return awserr.New("DependencyViolation", "resource %s has a dependent object", g.ID)
		}
		return tx.remove(kindSecurityGroup, g)
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// Permission is one IpPermission of an Authorize or Revoke call: a
// protocol, a port range (or ICMP type and code) and the peers it applies
// to. Each peer becomes one rule.
type Permission struct {
	Protocol string
	FromPort *int32
	ToPort   *int32
	Peers    []Peer
}

// Peer is one source (ingress) or destination (egress) of a permission:
// exactly one of CidrIPv4, CidrIPv6, PrefixList or GroupID/GroupName.
type Peer struct {
	CidrIPv4    string
	CidrIPv6    string
	PrefixList  string
	GroupID     string
	GroupName   string // [Default VPC] only: refused with VPCIdNotSpecified
	UserID      string // owner of GroupID; defaults to the caller
	Description string
}

// Protocol numbers Isthmus names as EC2 does.
var protocolNames = map[int]string{1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}

// normalizeProtocol returns EC2's canonical spelling of a protocol: "-1",
// a name (tcp, udp, icmp, icmpv6; numbers 6, 17, 1, 58 become these) or
// another protocol number in decimal.
func normalizeProtocol(p string) (string, error) {
	if p == "" {
		return "", awserr.MissingParameter("ipProtocol")
	}
	l := strings.ToLower(p)
	switch l {
	case "-1", "tcp", "udp", "icmp", "icmpv6":
		return l, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 255 {
		return "", awserr.InvalidParameterValue("Invalid value '%s' for IP protocol. Unknown protocol.", p)
	}
	if name, ok := protocolNames[n]; ok {
		return name, nil
	}
	return strconv.Itoa(n), nil
}

// ProtocolNumber is the IANA number of a normalized protocol, or -1 for all.
func ProtocolNumber(p string) int {
	for n, name := range protocolNames {
		if name == p {
			return n
		}
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return -1
	}
	return n
}

// normalizePorts validates a permission's ports the way EC2 does and
// returns what the rule stores: the port range for tcp and udp, type and
// code for icmp and icmpv6, and -1/-1 for every other protocol (which
// ignores any range given).
func normalizePorts(proto string, from, to *int32) (int32, int32, error) {
	get := func(p *int32) int32 {
		if p == nil {
			return -1
		}
		return *p
	}
	switch proto {
	case "tcp", "udp":
		if from == nil && to == nil {
			return 0, 0, awserr.InvalidParameterValue("Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange.")
		}
		f, t := get(from), get(to)
		for _, p := range []int32{f, t} {
			if p < 0 || p > 65535 {
				return 0, 0, awserr.New("InvalidPermission.Malformed", "TCP/UDP port (%d) out of range", p)
			}
		}
		if f > t {
			return 0, 0, awserr.InvalidParameterValue("Invalid value '%d-%d' for portRange. The from port must not be greater than the to port.", f, t)
		}
		return f, t, nil
	case "icmp", "icmpv6":
		if from == nil && to == nil {
			if proto == "icmpv6" { // optional for ICMPv6: all types and codes
				return -1, -1, nil
			}
			return 0, 0, awserr.InvalidParameterValue("Invalid value 'Must specify both from and to ports with ICMP.' for portRange.")
		}
		typ, code := get(from), get(to)
		if typ < -1 || typ > 255 {
			return 0, 0, awserr.New("InvalidPermission.Malformed", "ICMP type (%d) out of range", typ)
		}
		if code < -1 || code > 255 {
			return 0, 0, awserr.New("InvalidPermission.Malformed", "ICMP code (%d) out of range", code)
		}
		if typ == -1 && code != -1 {
			return 0, 0, awserr.InvalidParameterValue("Invalid value 'Type=-1, Code=%d' for ICMP. If you specify all ICMP types, you must specify all ICMP codes.", code)
		}
		return typ, code, nil
	}
	return -1, -1, nil
}

// parseCIDR6 parses an IPv6 CIDR and returns it in canonical form.
func parseCIDR6(s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
		return netip.Prefix{}, false
	}
	return p.Masked(), true
}

// checkPrefixListID is the single validation hook for prefix lists named
// by rules: the list must exist (the AWS-managed lists of the region, see
// prefixlist.go), else InvalidPrefixListID.NotFound.
func (tx *Tx) checkPrefixListID(id string) error { return tx.prefixListForSecurityGroup(id) }

// ruleContext is what building rules for one group needs to know.
type ruleContext struct {
	g      *SecurityGroup
	egress bool
	// resolve: look referenced groups up (Authorize, Modify); Revoke only
	// matches ids.
	resolve bool
}

// buildRules turns permissions into rules (without ids), validating each
// field in the order EC2 reports errors: protocol, ports, then peers.
func (tx *Tx) buildRules(rc ruleContext, perms []Permission) ([]SGRule, error) {
	var out []SGRule
	for _, p := range perms {
		proto, err := normalizeProtocol(p.Protocol)
		if err != nil {
			return nil, err
		}
		from, to, err := normalizePorts(proto, p.FromPort, p.ToPort)
		if err != nil {
			return nil, err
		}
		for _, peer := range p.Peers {
			r := SGRule{Egress: rc.egress, Protocol: proto, FromPort: from, ToPort: to, Description: peer.Description}
			if err := tx.setPeer(rc, &r, peer); err != nil {
				return nil, err
			}
			if err := checkRuleDescription(r.Description); err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

func (tx *Tx) setPeer(rc ruleContext, r *SGRule, peer Peer) error {
	n := 0
	for _, s := range []string{peer.CidrIPv4, peer.CidrIPv6, peer.PrefixList, peer.GroupID + peer.GroupName} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		if n == 0 {
			return awserr.New("MissingParameter", "Missing source specification: include source security group or CIDR information")
		}
		return awserr.InvalidParameterCombination("A rule has exactly one source or destination: a CIDR block, a prefix list or a security group.")
	}
	switch {
	case peer.CidrIPv4 != "":
		p, ok := ParseCIDR(peer.CidrIPv4)
		if !ok {
			return awserr.InvalidParameterValue("CIDR block %s is malformed", peer.CidrIPv4)
		}
		r.CidrIPv4 = p.String()
	case peer.CidrIPv6 != "":
		p, ok := parseCIDR6(peer.CidrIPv6)
		if !ok {
			return awserr.InvalidParameterValue("CIDR block %s is malformed", peer.CidrIPv6)
		}
		r.CidrIPv6 = p.String()
	case peer.PrefixList != "":
		if err := tx.checkPrefixListID(peer.PrefixList); err != nil {
			return err
		}
		r.PrefixList = peer.PrefixList
	case peer.GroupName != "" && peer.GroupID == "":
		return noDefaultVpc()
	default:
		if err := kindSecurityGroup.checkID(peer.GroupID); err != nil {
			return err
		}
		if peer.UserID != "" && !IsAccountID(peer.UserID) {
			return awserr.New("InvalidUserID.Malformed", "Invalid user id: \"%s\"", peer.UserID)
		}
		r.GroupID = peer.GroupID
		if !rc.resolve {
			return nil
		}
		owner := peer.UserID
		if owner == "" {
			owner = tx.who.Account
		}
		ref, ok, err := loadAny[SecurityGroup](tx, kindSecurityGroup, peer.GroupID)
		if err != nil {
			return err
		}
		if !ok || ref.Owner != owner {
			return kindSecurityGroup.notFound(peer.GroupID)
		}
		if ref.VpcID != rc.g.VpcID {
			return awserr.New("InvalidGroup.NotFound", "You have specified two resources that belong to different networks.")
		}
		r.GroupOwner, r.GroupName = ref.Owner, ref.Name
	}
	return nil
}

// ruleText is the rule as EC2 names it in InvalidPermission.Duplicate:
// peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW
func (r *SGRule) ruleText() string {
	peer := r.CidrIPv4 + r.CidrIPv6 + r.PrefixList + r.GroupID
	var what string
	switch r.Protocol {
	case "-1":
		what = "ALL"
	case "tcp", "udp":
		what = strings.ToUpper(r.Protocol) + ", from port: " + itoa(r.FromPort) + ", to port: " + itoa(r.ToPort)
	case "icmp", "icmpv6":
		typ, code := "ALL", "ALL"
		if r.FromPort != -1 {
			typ = itoa(r.FromPort)
		}
		if r.ToPort != -1 {
			code = itoa(r.ToPort)
		}
		what = strings.ToUpper(r.Protocol) + ", type: " + typ + ", code: " + code
	default:
		what = r.Protocol
	}
	return "peer: " + peer + ", " + what + ", ALLOW"
}

// checkRuleLimits enforces AWS's default rules-per-group quota on rules.
func checkRuleLimits(rules []SGRule) error {
	var v4, v6 [2]int
	for _, r := range rules {
		d := 0
		if r.Egress {
			d = 1
		}
		if r.CidrIPv6 == "" {
			v4[d]++
		}
		if r.CidrIPv4 == "" {
			v6[d]++
		}
		if v4[d] > maxRulesPerDirection || v6[d] > maxRulesPerDirection {
			return awserr.New("RulesPerSecurityGroupLimitExceeded", "The maximum number of rules per security group has been reached.")
		}
	}
	return nil
}

// AuthorizeInput is what AuthorizeSecurityGroupIngress and
// AuthorizeSecurityGroupEgress take.
type AuthorizeInput struct {
	GroupID     string
	GroupName   string // [Default VPC]: VPCIdNotSpecified
	Egress      bool
	Permissions []Permission
	// TagSpecs tag the new rules (ResourceType security-group-rule).
	TagSpecs []TagSpec
}

// AuthorizeSecurityGroupRules adds rules to one of the caller's groups and
// returns the group and the new rules. Every rule must be new
// (InvalidPermission.Duplicate otherwise, also within the call), or none is
// added. A permission without any peer adds nothing, as EC2 does.
// Referenced groups must exist in the group's VPC; another account's group
// is found when UserId names its owner.
func (c *Cloud) AuthorizeSecurityGroupRules(who Caller, in AuthorizeInput) (*SecurityGroup, []SGRule, error) {
	if len(in.Permissions) == 0 {
		return nil, nil, awserr.MissingParameter("ipPermissions")
	}
	tags, err := specTags(kindSecurityGroupRule, in.TagSpecs)
	if err != nil {
		return nil, nil, err
	}
	var g *SecurityGroup
	var added []SGRule
	err = c.update(who, func(tx *Tx) error {
		var err error
		if g, err = tx.loadGroup(in.GroupID, in.GroupName); err != nil {
			return err
		}
		rules, err := tx.buildRules(ruleContext{g: g, egress: in.Egress, resolve: true}, in.Permissions)
		if err != nil {
			return err
		}
		for i := range rules {
			r := &rules[i]
			for j := range g.Rules {
				if g.Rules[j].same(r) {
					return awserr.New("InvalidPermission.Duplicate", "the specified rule \"%s\" already exists", r.ruleText())
				}
			}
			for j := 0; j < i; j++ {
				if rules[j].same(r) {
					return awserr.New("InvalidPermission.Duplicate", "the specified rule \"%s\" already exists", r.ruleText())
				}
			}
			r.ID = tx.newID("sgr")
			r.Tags = tags
		}
		g.Rules = append(g.Rules, rules...)
		if err := checkRuleLimits(g.Rules); err != nil {
			return err
		}
		added = rules
		return tx.save(kindSecurityGroup, g)
	})
	if err != nil {
		return nil, nil, err
	}
	return g, added, nil
}

// RevokeInput is what RevokeSecurityGroupIngress and
// RevokeSecurityGroupEgress take: permissions or rule ids, not both.
type RevokeInput struct {
	GroupID     string
	GroupName   string // [Default VPC]: VPCIdNotSpecified
	Egress      bool
	Permissions []Permission
	RuleIDs     []string
}

// RevokeSecurityGroupRules removes rules from one of the caller's groups
// and returns the group and the removed rules. Rules are named by id or by
// their exact protocol, ports and peer (descriptions do not matter). As AWS
// does for a nondefault VPC, a rule that does not exist fails the whole
// call (InvalidPermission.NotFound, or InvalidSecurityGroupRuleId.NotFound
// for an id) and nothing is revoked.
func (c *Cloud) RevokeSecurityGroupRules(who Caller, in RevokeInput) (*SecurityGroup, []SGRule, error) {
	switch {
	case len(in.Permissions) > 0 && len(in.RuleIDs) > 0:
		return nil, nil, awserr.InvalidParameterCombination("The parameter SecurityGroupRuleId cannot be used with IpPermissions.")
	case len(in.Permissions) == 0 && len(in.RuleIDs) == 0:
		return nil, nil, awserr.MissingParameter("ipPermissions")
	}
	for _, id := range in.RuleIDs {
		if err := kindSecurityGroupRule.checkID(id); err != nil {
			return nil, nil, err
		}
	}
	var g *SecurityGroup
	var removed []SGRule
	err := c.update(who, func(tx *Tx) error {
		var err error
		if g, err = tx.loadGroup(in.GroupID, in.GroupName); err != nil {
			return err
		}
		drop := map[string]bool{}
		for _, id := range in.RuleIDs {
			found := false
			for _, r := range g.Rules {
				if r.ID == id && r.Egress == in.Egress {
					found = true
					drop[id] = true
				}
			}
			if !found {
				return kindSecurityGroupRule.notFound(id)
			}
		}
		want, err := tx.buildRules(ruleContext{g: g, egress: in.Egress}, in.Permissions)
		if err != nil {
			return err
		}
		for i := range want {
			found := false
			for _, r := range g.Rules {
				if r.same(&want[i]) {
					found = true
					drop[r.ID] = true
				}
			}
			if !found {
				return awserr.New("InvalidPermission.NotFound", "The specified rule does not exist in this security group.")
			}
		}
		kept := g.Rules[:0:0]
		for _, r := range g.Rules {
			if drop[r.ID] {
				removed = append(removed, r)
			} else {
				kept = append(kept, r)
			}
		}
		g.Rules = kept
		return tx.save(kindSecurityGroup, g)
	})
	if err != nil {
		return nil, nil, err
	}
	return g, removed, nil
}

// RuleUpdate replaces one rule of ModifySecurityGroupRules: the rule keeps
// its id, direction and tags; protocol, ports, peer (exactly one) and
// description are the new ones.
type RuleUpdate struct {
	RuleID     string
	Permission Permission
}

// ModifySecurityGroupRules replaces rules of one of the caller's groups in
// place. The result must not duplicate another rule of the group.
func (c *Cloud) ModifySecurityGroupRules(who Caller, groupID string, updates []RuleUpdate) error {
	if len(updates) == 0 {
		return awserr.MissingParameter("SecurityGroupRule")
	}
	for _, u := range updates {
		if u.RuleID == "" {
			return awserr.MissingParameter("SecurityGroupRule.SecurityGroupRuleId")
		}
		if err := kindSecurityGroupRule.checkID(u.RuleID); err != nil {
			return err
		}
		if len(u.Permission.Peers) != 1 {
			if len(u.Permission.Peers) == 0 {
				return awserr.New("MissingParameter", "Missing source specification: include source security group or CIDR information")
			}
			return awserr.InvalidParameterCombination("A rule has exactly one source or destination: a CIDR block, a prefix list or a security group.")
		}
	}
	return c.update(who, func(tx *Tx) error {
		g, err := tx.loadGroup(groupID, "")
		if err != nil {
			return err
		}
		for _, u := range updates {
			i := -1
			for j := range g.Rules {
				if g.Rules[j].ID == u.RuleID {
					i = j
				}
			}
			if i < 0 {
				return kindSecurityGroupRule.notFound(u.RuleID)
			}
			old := g.Rules[i]
			rules, err := tx.buildRules(ruleContext{g: g, egress: old.Egress, resolve: true}, []Permission{u.Permission})
			if err != nil {
				return err
			}
			r := rules[0]
			r.ID, r.Tags = old.ID, old.Tags
			for j := range g.Rules {
				if j != i && g.Rules[j].same(&r) {
					return awserr.New("InvalidPermission.Duplicate", "the specified rule \"%s\" already exists", r.ruleText())
				}
			}
			g.Rules[i] = r
		}
		if err := checkRuleLimits(g.Rules); err != nil {
			return err
		}
		return tx.save(kindSecurityGroup, g)
	})
}

// GroupRule is one rule with the group it belongs to, as
// DescribeSecurityGroupRules lists rules.
type GroupRule struct {
	Rule    SGRule
	GroupID string // the group holding the rule
	Owner   string // the group's owner
	ARN     string // the rule's ARN
}

// DescribeSecurityGroupRules lists the rules of the caller's groups, by id
// and filters (group-id, security-group-rule-id, tag:<key>), in rule id
// order.
func (c *Cloud) DescribeSecurityGroupRules(who Caller, ids []string, filters []Filter, p Page) ([]GroupRule, string, error) {
	for _, f := range filters {
		switch {
		case f.Name == "group-id", f.Name == "security-group-rule-id", strings.HasPrefix(f.Name, "tag:"):
		case f.Name == "":
			return nil, "", awserr.InvalidParameterValue("The filter 'null' is invalid")
		default:
			return nil, "", awserr.InvalidParameterValue("The filter '%s' is invalid", f.Name)
		}
	}
	for _, id := range ids {
		if err := kindSecurityGroupRule.checkID(id); err != nil {
			return nil, "", err
		}
	}
	var out []GroupRule
	err := c.view(who, func(tx *Tx) error {
		groups, err := list[SecurityGroup](tx, kindSecurityGroup, nil)
		if err != nil {
			return err
		}
		byID := map[string]GroupRule{}
		for _, g := range groups {
			for _, r := range g.Rules {
				byID[r.ID] = GroupRule{Rule: r, GroupID: g.ID, Owner: g.Owner, ARN: g.RuleARN(r.ID)}
			}
		}
		var rules []GroupRule
		if len(ids) > 0 {
			seen := map[string]bool{}
			for _, id := range ids {
				gr, ok := byID[id]
				if !ok {
					return kindSecurityGroupRule.notFound(id)
				}
				if !seen[id] {
					seen[id] = true
					rules = append(rules, gr)
				}
			}
		} else {
			for _, gr := range byID {
				rules = append(rules, gr)
			}
		}
		for _, gr := range rules {
			if matchRuleFilters(gr, filters) {
				out = append(out, gr)
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rule.ID < out[j].Rule.ID })
	return paginate(out, func(gr GroupRule) string { return gr.Rule.ID }, p, 5, 1000)
}

func matchRuleFilters(gr GroupRule, filters []Filter) bool {
	for _, f := range filters {
		var have []string
		switch f.Name {
		case "group-id":
			have = []string{gr.GroupID}
		case "security-group-rule-id":
			have = []string{gr.Rule.ID}
		default:
			have, _ = tagFilter(&Meta{Tags: gr.Rule.Tags}, f.Name)
		}
		if !matchAny(have, f.Values) {
			return false
		}
	}
	return true
}

// The data plane's view of security groups.

// ResolvedGroup is a security group as the data plane enforces it: its
// member interfaces and its rules with every peer turned into prefixes.
type ResolvedGroup struct {
	ID      string
	Owner   string
	VpcID   string
	Members []GroupMember // interfaces carrying the group, by ENI id
	Ingress []ResolvedRule
	Egress  []ResolvedRule
}

// GroupMember is one network interface carrying a group.
type GroupMember struct {
	ENI string
	IP  netip.Addr
}

// ResolvedRule is one rule ready for nftables. Traffic matches when its
// protocol and ports match and the peer address is in Prefixes.
type ResolvedRule struct {
	ID string
	// Protocol is the IANA protocol number, or -1 for all protocols.
	Protocol int
	// FromPort and ToPort are the port range (tcp, udp) or ICMP type and
	// code (icmp, icmpv6; -1 means any); -1/-1 for other protocols.
	FromPort, ToPort int32
	// Prefixes are the peer addresses: the rule's CIDR, or one /32 (or
	// /128) for each current member of the referenced group. Empty for a
	// prefix-list rule until prefix lists are modelled (PrefixList names it).
	Prefixes   []netip.Prefix
	GroupID    string // the referenced group, if any
	PrefixList string // the referenced prefix list, if any
}

// ResolvedSecurityGroups returns every security group of region (all
// accounts), in group id order, with each rule's peers resolved to
// prefixes from the current network interfaces. It reads one consistent
// snapshot and changes nothing.
func (c *Cloud) ResolvedSecurityGroups(region string) ([]ResolvedGroup, error) {
	var groups []*SecurityGroup
	var enis []*NetworkInterface
	err := c.view(Caller{Region: region}, func(tx *Tx) error {
		var err error
		if groups, err = listAll[SecurityGroup](tx, kindSecurityGroup, nil); err != nil {
			return err
		}
		enis, err = listAll[NetworkInterface](tx, kindENI, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ResolveSecurityGroups(groups, enis), nil
}

// ResolveSecurityGroups is the pure function behind ResolvedSecurityGroups:
// it resolves groups against the interfaces that carry them. Interfaces
// without a valid address are left out.
func ResolveSecurityGroups(groups []*SecurityGroup, enis []*NetworkInterface) []ResolvedGroup {
	members := map[string][]GroupMember{}
	for _, n := range enis {
		ip, err := netip.ParseAddr(n.PrivateIP)
		if err != nil {
			continue
		}
		for _, id := range n.Groups {
			members[id] = append(members[id], GroupMember{ENI: n.ID, IP: ip})
		}
	}
	for _, m := range members {
		sort.Slice(m, func(i, j int) bool { return m[i].ENI < m[j].ENI })
	}
	out := make([]ResolvedGroup, 0, len(groups))
	for _, g := range groups {
		rg := ResolvedGroup{ID: g.ID, Owner: g.Owner, VpcID: g.VpcID, Members: members[g.ID]}
		for _, r := range g.Rules {
			rr := ResolvedRule{ID: r.ID, Protocol: ProtocolNumber(r.Protocol), FromPort: r.FromPort, ToPort: r.ToPort,
				GroupID: r.GroupID, PrefixList: r.PrefixList}
			switch {
			case r.CidrIPv4 != "" || r.CidrIPv6 != "":
				if p, err := netip.ParsePrefix(r.CidrIPv4 + r.CidrIPv6); err == nil {
					rr.Prefixes = []netip.Prefix{p}
				}
			case r.GroupID != "":
				for _, m := range members[r.GroupID] {
					rr.Prefixes = append(rr.Prefixes, netip.PrefixFrom(m.IP, m.IP.BitLen()))
				}
			}
			if r.Egress {
				rg.Egress = append(rg.Egress, rr)
			} else {
				rg.Ingress = append(rg.Ingress, rr)
			}
		}
		out = append(out, rg)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
