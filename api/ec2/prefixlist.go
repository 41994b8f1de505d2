package ec2

import (
	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/core"
)

func (h *Handler) prefixListActions() map[string]awsquery.Action {
	return map[string]awsquery.Action{
		"DescribePrefixLists":         awsquery.Op(h.describePrefixLists),
		"DescribeManagedPrefixLists":  awsquery.Op(h.describeManagedPrefixLists),
		"GetManagedPrefixListEntries": awsquery.Op(h.getManagedPrefixListEntries),
	}
}

func (h *Handler) describePrefixLists(r *awsquery.Request, in *DescribePrefixListsRequest) (*DescribePrefixListsResult, error) {
	pls, next, err := h.cloud.DescribePrefixLists(caller(r, in.DryRun), in.PrefixListIds, filters(in.Filters), page(in.MaxResults, in.NextToken))
	if err != nil {
		return nil, err
	}
	out := &DescribePrefixListsResult{NextToken: strp(next)}
	for _, p := range pls {
		out.PrefixLists = append(out.PrefixLists, PrefixList{PrefixListId: ptr(p.ID), PrefixListName: ptr(p.Name), Cidrs: p.CIDRs})
	}
	return out, nil
}

func wireManagedPrefixList(p *core.PrefixList) ManagedPrefixList {
	return ManagedPrefixList{
		PrefixListId:   ptr(p.ID),
		PrefixListName: ptr(p.Name),
		PrefixListArn:  ptr(p.ARN()),
		AddressFamily:  ptr("IPv4"),
		State:          ptr("create-complete"),
		OwnerId:        ptr("AWS"),
	}
}

func (h *Handler) describeManagedPrefixLists(r *awsquery.Request, in *DescribeManagedPrefixListsRequest) (*DescribeManagedPrefixListsResult, error) {
	pls, next, err := h.cloud.DescribeManagedPrefixLists(caller(r, in.DryRun), in.PrefixListIds, filters(in.Filters), page(in.MaxResults, in.NextToken))
	if err != nil {
		return nil, err
	}
	out := &DescribeManagedPrefixListsResult{NextToken: strp(next)}
	for _, p := range pls {
		out.PrefixLists = append(out.PrefixLists, wireManagedPrefixList(p))
	}
	return out, nil
}

func (h *Handler) getManagedPrefixListEntries(r *awsquery.Request, in *GetManagedPrefixListEntriesRequest) (*GetManagedPrefixListEntriesResult, error) {
	var version int64
	if in.TargetVersion != nil {
		version = *in.TargetVersion
	}
	cidrs, next, err := h.cloud.GetManagedPrefixListEntries(caller(r, in.DryRun), str(in.PrefixListId), version, page(in.MaxResults, in.NextToken))
	if err != nil {
		return nil, err
	}
	out := &GetManagedPrefixListEntriesResult{NextToken: strp(next)}
	for _, c := range cidrs {
		out.Entries = append(out.Entries, PrefixListEntry{Cidr: ptr(c)})
	}
	return out, nil
}
