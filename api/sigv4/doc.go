// Package sigv4 verifies AWS Signature Version 4 on incoming requests, the
// way AWS's Query-protocol services (EC2, ELBv2, STS) do, so that the aws CLI
// and SDKs sign requests for Isthmus unchanged.
//
// It owns reading the claimed credentials from a request (the Authorization
// header or a presigned query string), rebuilding the canonical request and
// string to sign, deriving the signing key, comparing signatures in constant
// time, and the request time window. Every refusal is an *awserr.Error with
// the Query protocol's code and status (see the Code constants); callers that
// answer in EC2's dialect remap them at the API edge.
//
// It does not own looking up the secret for an access key, checking that the
// credential scope's region and service are the ones being served, validating
// session tokens, or reading the request body: the caller does those and
// hands Verify the body bytes it read.
//
// Time is injected: Verify takes now, so the package holds no clock and no
// state and is safe for concurrent use.
package sigv4
