package core

// The kinds of object the core stores. Codes and nouns are AWS's.
var (
	kindVpc = register(&kind{name: "vpc", idPrefix: "vpc", resourceType: "vpc",
		idNoun: "vpc ID", notFoundCode: "InvalidVpcID.NotFound", malformed: "InvalidVpcID.Malformed",
		decode: decoder[Vpc]()})
	kindSubnet = register(&kind{name: "subnet", idPrefix: "subnet", resourceType: "subnet",
		idNoun: "subnet ID", notFoundCode: "InvalidSubnetID.NotFound", malformed: "InvalidSubnetID.Malformed",
		decode: decoder[Subnet]()})
	kindRouteTable = register(&kind{name: "rtb", idPrefix: "rtb", resourceType: "route-table",
		idNoun: "routeTable ID", notFoundCode: "InvalidRouteTableID.NotFound", malformed: "InvalidRouteTableID.Malformed",
		decode: decoder[RouteTable]()})
	kindSecurityGroup = register(&kind{name: "sg", idPrefix: "sg", resourceType: "security-group",
		idNoun: "security group", notFoundCode: "InvalidGroup.NotFound", malformed: "InvalidGroupId.Malformed",
		decode: decoder[SecurityGroup]()})
	kindENI = register(&kind{name: "eni", idPrefix: "eni", resourceType: "network-interface",
		idNoun: "networkInterface ID", notFoundCode: "InvalidNetworkInterfaceID.NotFound", malformed: "InvalidNetworkInterfaceID.Malformed",
		decode: decoder[NetworkInterface]()})
	kindNetworkACL = register(&kind{name: "acl", idPrefix: "acl", resourceType: "network-acl",
		idNoun: "network ACL ID", notFoundCode: "InvalidNetworkAclID.NotFound", malformed: "InvalidNetworkAclID.Malformed",
		decode: decoder[NetworkACL]()})
)

func decoder[T any, PT interface {
	*T
	Object
}]() func([]byte) (Object, error) {
	return func(b []byte) (Object, error) {
		v, err := decodeJSON[T](b)
		if err != nil {
			return nil, err
		}
		return PT(v), nil
	}
}
