package ec2

import "github.com/isthmusnet/isthmus/api/awsquery"

func (h *Handler) securityGroupActions() map[string]awsquery.Action {
	return map[string]awsquery.Action{}
}
