package core

// The kinds of Elastic Load Balancing (v2) object. They are named by ARNs
// rather than EC2-style ids, so they are not registered in kinds: EC2's
// CreateTags/DescribeTags and DeleteVpc's dependency scan never see them
// (a load balancer still keeps its VPC alive through its network
// interfaces, which hold addresses in the VPC's subnets). Their Meta.ID is
// the 16-hex-digit id that ends their ARN.
var (
	kindLoadBalancer = &kind{name: "elb-lb", decode: decoder[LoadBalancer]()}
	kindTargetGroup  = &kind{name: "elb-tg", decode: decoder[TargetGroup]()}
	kindListener     = &kind{name: "elb-listener", decode: decoder[Listener]()}
)
