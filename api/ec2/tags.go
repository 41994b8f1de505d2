package ec2

import (
	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/core"
)

func (h *Handler) tagActions() map[string]awsquery.Action {
	return map[string]awsquery.Action{
		"CreateTags":   awsquery.Op(h.createTags),
		"DeleteTags":   awsquery.Op(h.deleteTags),
		"DescribeTags": awsquery.Op(h.describeTags),
	}
}

func (h *Handler) createTags(r *awsquery.Request, in *CreateTagsRequest) (*struct{}, error) {
	return nil, h.cloud.CreateTags(caller(r, in.DryRun), in.Resources, coreTags(in.Tags))
}

func (h *Handler) deleteTags(r *awsquery.Request, in *DeleteTagsRequest) (*struct{}, error) {
	var del []core.TagDelete
	for _, t := range in.Tags {
		del = append(del, core.TagDelete{Key: str(t.Key), Value: t.Value})
	}
	return nil, h.cloud.DeleteTags(caller(r, in.DryRun), in.Resources, del)
}

func (h *Handler) describeTags(r *awsquery.Request, in *DescribeTagsRequest) (*DescribeTagsResult, error) {
	tags, next, err := h.cloud.DescribeTags(caller(r, in.DryRun), filters(in.Filters), page(in.MaxResults, in.NextToken))
	if err != nil {
		return nil, err
	}
	out := &DescribeTagsResult{NextToken: strp(next)}
	for _, t := range tags {
		out.Tags = append(out.Tags, TagDescription{
			ResourceId:   ptr(t.ResourceID),
			ResourceType: ptr(t.ResourceType),
			Key:          ptr(t.Key),
			Value:        ptr(t.Value),
		})
	}
	return out, nil
}
