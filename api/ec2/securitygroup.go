package ec2

import (
	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/core"
)

func (h *Handler) securityGroupActions() map[string]awsquery.Action {
	return map[string]awsquery.Action{
		"CreateSecurityGroup":           awsquery.Op(h.createSecurityGroup),
		"DescribeSecurityGroups":        awsquery.Op(h.describeSecurityGroups),
		"DeleteSecurityGroup":           awsquery.Op(h.deleteSecurityGroup),
		"AuthorizeSecurityGroupIngress": awsquery.Op(h.authorizeSecurityGroupIngress),
		"AuthorizeSecurityGroupEgress":  awsquery.Op(h.authorizeSecurityGroupEgress),
		"RevokeSecurityGroupIngress":    awsquery.Op(h.revokeSecurityGroupIngress),
		"RevokeSecurityGroupEgress":     awsquery.Op(h.revokeSecurityGroupEgress),
		"DescribeSecurityGroupRules":    awsquery.Op(h.describeSecurityGroupRules),
		"ModifySecurityGroupRules":      awsquery.Op(h.modifySecurityGroupRules),
	}
}

func (h *Handler) createSecurityGroup(r *awsquery.Request, in *CreateSecurityGroupRequest) (*CreateSecurityGroupResult, error) {
	g, err := h.cloud.CreateSecurityGroup(caller(r, in.DryRun), core.CreateSecurityGroupInput{
		GroupName:   str(in.GroupName),
		Description: str(in.Description),
		VpcID:       str(in.VpcId),
		TagSpecs:    tagSpecs(in.TagSpecifications),
	})
	if err != nil {
		return nil, err
	}
	return &CreateSecurityGroupResult{GroupId: ptr(g.ID), SecurityGroupArn: ptr(g.ARN()), Tags: wireTags(g.Tags)}, nil
}

func (h *Handler) describeSecurityGroups(r *awsquery.Request, in *DescribeSecurityGroupsRequest) (*DescribeSecurityGroupsResult, error) {
	groups, next, err := h.cloud.DescribeSecurityGroups(caller(r, in.DryRun), in.GroupIds, in.GroupNames, filters(in.Filters), page(in.MaxResults, in.NextToken))
	if err != nil {
		return nil, err
	}
	out := &DescribeSecurityGroupsResult{NextToken: strp(next)}
	for _, g := range groups {
		out.SecurityGroups = append(out.SecurityGroups, SecurityGroup{
			GroupId:             ptr(g.ID),
			GroupName:           ptr(g.Name),
			Description:         ptr(g.Description),
			OwnerId:             ptr(g.Owner),
			VpcId:               ptr(g.VpcID),
			SecurityGroupArn:    ptr(g.ARN()),
			IpPermissions:       wirePermissions(g.Rules, false),
			IpPermissionsEgress: wirePermissions(g.Rules, true),
			Tags:                wireTags(g.Tags),
		})
	}
	return out, nil
}

// wirePermissions renders one direction of a group's rules as EC2 does:
// rules with the same protocol and ports share one IpPermission, which
// lists their peers by kind. Permissions keep the order of their first
// rule. Protocol -1 carries no ports.
func wirePermissions(rules []core.SGRule, egress bool) []IpPermission {
	type key struct {
		proto    string
		from, to int32
	}
	var out []IpPermission
	at := map[key]int{}
	for _, r := range rules {
		if r.Egress != egress {
			continue
		}
		k := key{r.Protocol, r.FromPort, r.ToPort}
		i, ok := at[k]
		if !ok {
			p := IpPermission{IpProtocol: ptr(r.Protocol)}
			if r.Protocol != "-1" {
				p.FromPort, p.ToPort = ptr(r.FromPort), ptr(r.ToPort)
			}
			out = append(out, p)
			i = len(out) - 1
			at[k] = i
		}
		p := &out[i]
		desc := strp(r.Description)
		switch {
		case r.CidrIPv4 != "":
			p.IpRanges = append(p.IpRanges, IpRange{CidrIp: ptr(r.CidrIPv4), Description: desc})
		case r.CidrIPv6 != "":
			p.Ipv6Ranges = append(p.Ipv6Ranges, Ipv6Range{CidrIpv6: ptr(r.CidrIPv6), Description: desc})
		case r.PrefixList != "":
			p.PrefixListIds = append(p.PrefixListIds, PrefixListId{PrefixListId: ptr(r.PrefixList), Description: desc})
		default:
			p.UserIdGroupPairs = append(p.UserIdGroupPairs, UserIdGroupPair{GroupId: ptr(r.GroupID), UserId: ptr(r.GroupOwner), Description: desc})
		}
	}
	return out
}

// wireRule renders one rule in the SecurityGroupRule shape of
// DescribeSecurityGroupRules and Authorize responses.
func wireRule(groupID, owner, arn string, r core.SGRule) SecurityGroupRule {
	out := SecurityGroupRule{
		SecurityGroupRuleId:  ptr(r.ID),
		SecurityGroupRuleArn: ptr(arn),
		GroupId:              ptr(groupID),
		GroupOwnerId:         ptr(owner),
		IsEgress:             ptr(r.Egress),
		IpProtocol:           ptr(r.Protocol),
		FromPort:             ptr(r.FromPort),
		ToPort:               ptr(r.ToPort),
		CidrIpv4:             strp(r.CidrIPv4),
		CidrIpv6:             strp(r.CidrIPv6),
		PrefixListId:         strp(r.PrefixList),
		Description:          strp(r.Description),
		Tags:                 wireTags(r.Tags),
	}
	if r.GroupID != "" {
		out.ReferencedGroupInfo = &ReferencedSecurityGroup{GroupId: ptr(r.GroupID), UserId: ptr(r.GroupOwner)}
	}
	return out
}

func wireRules(g *core.SecurityGroup, rules []core.SGRule) []SecurityGroupRule {
	out := make([]SecurityGroupRule, len(rules))
	for i, r := range rules {
		out[i] = wireRule(g.ID, g.Owner, g.RuleARN(r.ID), r)
	}
	return out
}

func wireRevoked(g *core.SecurityGroup, rules []core.SGRule) []RevokedSecurityGroupRule {
	out := make([]RevokedSecurityGroupRule, len(rules))
	for i, r := range rules {
		out[i] = RevokedSecurityGroupRule{
			SecurityGroupRuleId: ptr(r.ID),
			GroupId:             ptr(g.ID),
			IsEgress:            ptr(r.Egress),
			IpProtocol:          ptr(r.Protocol),
			FromPort:            ptr(r.FromPort),
			ToPort:              ptr(r.ToPort),
			CidrIpv4:            strp(r.CidrIPv4),
			CidrIpv6:            strp(r.CidrIPv6),
			PrefixListId:        strp(r.PrefixList),
			ReferencedGroupId:   strp(r.GroupID),
			Description:         strp(r.Description),
		}
	}
	return out
}

func (h *Handler) deleteSecurityGroup(r *awsquery.Request, in *DeleteSecurityGroupRequest) (*DeleteSecurityGroupResult, error) {
	g, err := h.cloud.DeleteSecurityGroup(caller(r, in.DryRun), str(in.GroupId), str(in.GroupName))
	if err != nil {
		return nil, err
	}
	return &DeleteSecurityGroupResult{Return: ptr(true), GroupId: ptr(g.ID)}, nil
}

// corePermissions translates IpPermissions: each IpRange, Ipv6Range,
// PrefixListId and UserIdGroupPair is one peer.
func corePermissions(perms []IpPermission) ([]core.Permission, error) {
	out := make([]core.Permission, len(perms))
	for i, p := range perms {
		cp := core.Permission{Protocol: str(p.IpProtocol), FromPort: p.FromPort, ToPort: p.ToPort}
		for _, x := range p.IpRanges {
			cp.Peers = append(cp.Peers, core.Peer{CidrIPv4: orMissing(x.CidrIp), Description: str(x.Description)})
		}
		for _, x := range p.Ipv6Ranges {
			cp.Peers = append(cp.Peers, core.Peer{CidrIPv6: orMissing(x.CidrIpv6), Description: str(x.Description)})
		}
		for _, x := range p.PrefixListIds {
			cp.Peers = append(cp.Peers, core.Peer{PrefixList: orMissing(x.PrefixListId), Description: str(x.Description)})
		}
		for _, x := range p.UserIdGroupPairs {
			if x.VpcPeeringConnectionId != nil {
				return nil, awserr.New("UnsupportedOperation", "VPC peering connections are not supported by this endpoint.")
			}
			cp.Peers = append(cp.Peers, core.Peer{GroupID: str(x.GroupId), GroupName: str(x.GroupName), UserID: str(x.UserId), Description: str(x.Description)})
		}
		out[i] = cp
	}
	return out, nil
}

// orMissing keeps a given-but-empty peer field visible to validation, so
// that it is refused as malformed rather than as a missing source.
func orMissing(p *string) string {
	if p != nil && *p == "" {
		return " "
	}
	return str(p)
}

// legacy are the flat rule parameters of Authorize/Revoke (CidrIp,
// IpProtocol, FromPort, ToPort, SourceSecurityGroupName/OwnerId).
type legacy struct {
	cidr, proto, srcName, srcOwner *string
	from, to                       *int32
}

func (l legacy) given() bool {
	return l.cidr != nil || l.proto != nil || l.srcName != nil || l.srcOwner != nil || l.from != nil || l.to != nil
}

// permissions merges the flat parameters with IpPermissions. Ingress
// accepts the flat form for a CIDR; a source group by name is a
// default-VPC form. Egress documents the flat form as unsupported.
func (l legacy) permissions(perms []IpPermission, egress bool) ([]core.Permission, error) {
	out, err := corePermissions(perms)
	if err != nil || !l.given() {
		return out, err
	}
	switch {
	case egress:
		return nil, awserr.InvalidParameterValue("CidrIp, IpProtocol, FromPort, ToPort and SourceSecurityGroup parameters are not supported for egress rules; use IpPermissions.")
	case len(perms) > 0:
		return nil, awserr.InvalidParameterCombination("The parameter IpPermissions cannot be used with CidrIp, IpProtocol, FromPort, ToPort, SourceSecurityGroupName or SourceSecurityGroupOwnerId.")
	case l.srcName != nil:
		return nil, awserr.New("VPCIdNotSpecified", "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.")
	case l.srcOwner != nil:
		return nil, awserr.New("MissingParameter", "Source group ID missing.")
	}
	p := core.Permission{Protocol: str(l.proto), FromPort: l.from, ToPort: l.to}
	if l.cidr != nil {
		p.Peers = []core.Peer{{CidrIPv4: orMissing(l.cidr)}}
	}
	return []core.Permission{p}, nil
}

func (h *Handler) authorize(r *awsquery.Request, dryRun *bool, groupID, groupName *string, egress bool, l legacy, perms []IpPermission, specs []TagSpecification) ([]SecurityGroupRule, error) {
	ps, err := l.permissions(perms, egress)
	if err != nil {
		return nil, err
	}
	g, added, err := h.cloud.AuthorizeSecurityGroupRules(caller(r, dryRun), core.AuthorizeInput{
		GroupID:     str(groupID),
		GroupName:   str(groupName),
		Egress:      egress,
		Permissions: ps,
		TagSpecs:    tagSpecs(specs),
	})
	if err != nil {
		return nil, err
	}
	return wireRules(g, added), nil
}

func (h *Handler) authorizeSecurityGroupIngress(r *awsquery.Request, in *AuthorizeSecurityGroupIngressRequest) (*AuthorizeSecurityGroupIngressResult, error) {
	l := legacy{cidr: in.CidrIp, proto: in.IpProtocol, srcName: in.SourceSecurityGroupName, srcOwner: in.SourceSecurityGroupOwnerId, from: in.FromPort, to: in.ToPort}
	rules, err := h.authorize(r, in.DryRun, in.GroupId, in.GroupName, false, l, in.IpPermissions, in.TagSpecifications)
	if err != nil {
		return nil, err
	}
	return &AuthorizeSecurityGroupIngressResult{Return: ptr(true), SecurityGroupRules: rules}, nil
}

func (h *Handler) authorizeSecurityGroupEgress(r *awsquery.Request, in *AuthorizeSecurityGroupEgressRequest) (*AuthorizeSecurityGroupEgressResult, error) {
	l := legacy{cidr: in.CidrIp, proto: in.IpProtocol, srcName: in.SourceSecurityGroupName, srcOwner: in.SourceSecurityGroupOwnerId, from: in.FromPort, to: in.ToPort}
	rules, err := h.authorize(r, in.DryRun, in.GroupId, nil, true, l, in.IpPermissions, in.TagSpecifications)
	if err != nil {
		return nil, err
	}
	return &AuthorizeSecurityGroupEgressResult{Return: ptr(true), SecurityGroupRules: rules}, nil
}

func (h *Handler) revoke(r *awsquery.Request, dryRun *bool, groupID, groupName *string, egress bool, l legacy, perms []IpPermission, ids []string) ([]RevokedSecurityGroupRule, error) {
	ps, err := l.permissions(perms, egress)
	if err != nil {
		return nil, err
	}
	g, removed, err := h.cloud.RevokeSecurityGroupRules(caller(r, dryRun), core.RevokeInput{
		GroupID:     str(groupID),
		GroupName:   str(groupName),
		Egress:      egress,
		Permissions: ps,
		RuleIDs:     ids,
	})
	if err != nil {
		return nil, err
	}
	return wireRevoked(g, removed), nil
}

func (h *Handler) revokeSecurityGroupIngress(r *awsquery.Request, in *RevokeSecurityGroupIngressRequest) (*RevokeSecurityGroupIngressResult, error) {
	l := legacy{cidr: in.CidrIp, proto: in.IpProtocol, srcName: in.SourceSecurityGroupName, srcOwner: in.SourceSecurityGroupOwnerId, from: in.FromPort, to: in.ToPort}
	revoked, err := h.revoke(r, in.DryRun, in.GroupId, in.GroupName, false, l, in.IpPermissions, in.SecurityGroupRuleIds)
	if err != nil {
		return nil, err
	}
	return &RevokeSecurityGroupIngressResult{Return: ptr(true), RevokedSecurityGroupRules: revoked}, nil
}

func (h *Handler) revokeSecurityGroupEgress(r *awsquery.Request, in *RevokeSecurityGroupEgressRequest) (*RevokeSecurityGroupEgressResult, error) {
	l := legacy{cidr: in.CidrIp, proto: in.IpProtocol, srcName: in.SourceSecurityGroupName, srcOwner: in.SourceSecurityGroupOwnerId, from: in.FromPort, to: in.ToPort}
	revoked, err := h.revoke(r, in.DryRun, in.GroupId, nil, true, l, in.IpPermissions, in.SecurityGroupRuleIds)
	if err != nil {
		return nil, err
	}
	return &RevokeSecurityGroupEgressResult{Return: ptr(true), RevokedSecurityGroupRules: revoked}, nil
}

func (h *Handler) describeSecurityGroupRules(r *awsquery.Request, in *DescribeSecurityGroupRulesRequest) (*DescribeSecurityGroupRulesResult, error) {
	rules, next, err := h.cloud.DescribeSecurityGroupRules(caller(r, in.DryRun), in.SecurityGroupRuleIds, filters(in.Filters), page(in.MaxResults, in.NextToken))
	if err != nil {
		return nil, err
	}
	out := &DescribeSecurityGroupRulesResult{NextToken: strp(next)}
	for _, gr := range rules {
		out.SecurityGroupRules = append(out.SecurityGroupRules, wireRule(gr.GroupID, gr.Owner, gr.ARN, gr.Rule))
	}
	return out, nil
}

func (h *Handler) modifySecurityGroupRules(r *awsquery.Request, in *ModifySecurityGroupRulesRequest) (*ModifySecurityGroupRulesResult, error) {
	updates := make([]core.RuleUpdate, len(in.SecurityGroupRules))
	for i, u := range in.SecurityGroupRules {
		rr := u.SecurityGroupRule
		if rr == nil {
			return nil, awserr.MissingParameter("SecurityGroupRule.SecurityGroupRule")
		}
		p := core.Permission{Protocol: str(rr.IpProtocol), FromPort: rr.FromPort, ToPort: rr.ToPort}
		desc := str(rr.Description)
		if rr.CidrIpv4 != nil {
			p.Peers = append(p.Peers, core.Peer{CidrIPv4: orMissing(rr.CidrIpv4), Description: desc})
		}
		if rr.CidrIpv6 != nil {
			p.Peers = append(p.Peers, core.Peer{CidrIPv6: orMissing(rr.CidrIpv6), Description: desc})
		}
		if rr.PrefixListId != nil {
			p.Peers = append(p.Peers, core.Peer{PrefixList: orMissing(rr.PrefixListId), Description: desc})
		}
		if rr.ReferencedGroupId != nil {
			p.Peers = append(p.Peers, core.Peer{GroupID: orMissing(rr.ReferencedGroupId), Description: desc})
		}
		updates[i] = core.RuleUpdate{RuleID: str(u.SecurityGroupRuleId), Permission: p}
	}
	if err := h.cloud.ModifySecurityGroupRules(caller(r, in.DryRun), str(in.GroupId), updates); err != nil {
		return nil, err
	}
	return &ModifySecurityGroupRulesResult{Return: ptr(true)}, nil
}
