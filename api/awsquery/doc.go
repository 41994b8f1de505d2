// Package awsquery is the AWS Query protocol, done once: decoding form
// parameters into generated input structs (EC2's "ec2" flavour and the plain
// "query" flavour of ELBv2, STS and SNS), writing responses and error
// envelopes exactly as AWS does, and the action table type the services
// plug into.
package awsquery
