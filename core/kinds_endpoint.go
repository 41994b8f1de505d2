package core

// The kinds of the VPC endpoint family. Endpoints and endpoint services are
// EC2 resources with EC2-style ids (taggable, seen by DeleteVpc's
// dependency scan); connections and connection notifications are not
// taggable and are looked up by their own calls only.
var (
	kindVpcEndpoint = register(&kind{name: "vpce", idPrefix: "vpce", resourceType: "vpc-endpoint",
		idNoun: "vpcEndpoint ID", notFoundCode: "InvalidVpcEndpointId.NotFound", malformed: "InvalidVpcEndpointId.Malformed",
		decode: decoder[VpcEndpoint]()})
	kindEndpointService = register(&kind{name: "vpcesvc", idPrefix: "vpce-svc", resourceType: "vpc-endpoint-service",
		idNoun: "VpcEndpointService Id", notFoundCode: "InvalidVpcEndpointServiceId.NotFound", malformed: "InvalidVpcEndpointServiceId.Malformed",
		decode: decoder[EndpointService]()})
	// kindConnection is keyed by the endpoint id: an endpoint has at most
	// one connection, to its service.
	kindConnection = &kind{name: "vpcecon", idPrefix: "vpce",
		idNoun: "vpcEndpoint ID", notFoundCode: "InvalidVpcEndpointId.NotFound", malformed: "InvalidVpcEndpointId.Malformed",
		decode: decoder[Connection]()}
	kindConnectionNotification = &kind{name: "vpcenfn", idPrefix: "vpce-nfn",
		idNoun: "connection notification ID", notFoundCode: "InvalidConnectionNotification", malformed: "InvalidConnectionNotification",
		decode: decoder[ConnectionNotification]()}
)
