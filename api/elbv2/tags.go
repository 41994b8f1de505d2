package elbv2

import (
	"github.com/isthmusnet/isthmus/api/awsquery"
)

func (h *Handler) tagActions() map[string]awsquery.Action {
	return map[string]awsquery.Action{
		"AddTags":      awsquery.Op(h.addTags),
		"RemoveTags":   awsquery.Op(h.removeTags),
		"DescribeTags": awsquery.Op(h.describeTags),
	}
}

func (h *Handler) addTags(r *awsquery.Request, in *AddTagsInput) (*AddTagsOutput, error) {
	if err := h.cloud.AddTags(caller(r), in.ResourceArns, coreTags(in.Tags)); err != nil {
		return nil, err
	}
	return &AddTagsOutput{}, nil
}

func (h *Handler) removeTags(r *awsquery.Request, in *RemoveTagsInput) (*RemoveTagsOutput, error) {
	if err := h.cloud.RemoveTags(caller(r), in.ResourceArns, in.TagKeys); err != nil {
		return nil, err
	}
	return &RemoveTagsOutput{}, nil
}

func (h *Handler) describeTags(r *awsquery.Request, in *DescribeTagsInput) (*DescribeTagsOutput, error) {
	res, err := h.cloud.DescribeELBTags(caller(r), in.ResourceArns)
	if err != nil {
		return nil, err
	}
	out := &DescribeTagsOutput{TagDescriptions: []TagDescription{}}
	for _, t := range res {
		out.TagDescriptions = append(out.TagDescriptions, TagDescription{ResourceArn: ptr(t.ARN), Tags: wireTags(t.Tags)})
	}
	return out, nil
}
