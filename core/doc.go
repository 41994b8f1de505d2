// Package core is Isthmus's control plane: the domain of accounts, regions,
// VPCs, subnets, route tables, security groups, network interfaces and (in
// later files) load balancers and endpoints, with their validation, ID and
// address allocation and state machines.
//
// The core is pure: it does no network I/O and reads time only through the
// clock it was given. Every mutating call is exactly one store transaction,
// so a call that fails — or a DryRun — leaves nothing behind. Refusals are
// *awserr.Error values carrying AWS's codes; the API edge maps them to the
// wire.
//
// Objects are stored as JSON under region-scoped keys (see keys.go) and are
// visible only to their owner account: another account gets the same
// NotFound answer as for an id that does not exist.
package core
