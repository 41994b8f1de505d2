// Package ec2 serves Amazon EC2's Query API (version 2016-11-15): the VPC
// core (VPCs, subnets, route tables, security groups, network interfaces,
// tags, regions and zones) and the VPC endpoint family. Handlers only
// translate between the wire shapes of zz_wire.go and core calls.
//
// zz_wire.go is generated from AWS's service model by tools/awsgen; to add
// an operation, list it in operations.txt and run
//
//	go run ./tools/awsgen -model .../botocore/data/ec2/2016-11-15/service-2.json.gz \
//	    -pkg ec2 -ops api/ec2/operations.txt -out api/ec2/zz_wire.go
package ec2
