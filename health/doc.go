// Package health checks the targets of network load balancers the way
// Elastic Load Balancing does, and reports their health in AWS's terms.
//
// It has four parts, from pure to I/O:
//
//   - Machine is one target's health state machine: initial, healthy,
//     unhealthy, with AWS's reason codes, driven by probe results and
//     times that the caller passes in. It does no I/O and reads no clock,
//     so its tests are transcripts (testdata/transcripts/*.txt).
//   - Matcher is ELBv2's Matcher.HttpCode ("200", "200,202", "200-299").
//   - Probers run one health check: TCPProbe (the connection opens within
//     the timeout) and HTTPProbe (GET a path, the status code matches;
//     HTTPS too). Both dial through a caller-supplied function, and write
//     a PROXY protocol v2 LOCAL header first when the target group has
//     proxy_protocol_v2.enabled, as AWS's health checks do.
//   - Checker runs a Machine and a Prober per target on its own schedule,
//     with jitter, and reports every change of a target's status through
//     a callback.
//
// Route is the fail-open rule: the targets new flows may go to.
//
// # AWS behaviour
//
// From the Network Load Balancer guide ("Health checks for Network Load
// Balancer target groups") and the ELBv2 API reference (TargetHealth):
//
//   - A registered target is initial (Elb.RegistrationInProgress) until
//     its first check starts, then initial (Elb.InitialHealthChecking)
//     until HealthyThresholdCount consecutive checks pass (healthy) or
//     UnhealthyThresholdCount consecutive checks fail (unhealthy).
//   - A healthy target turns unhealthy after UnhealthyThresholdCount
//     consecutive failures; an unhealthy one healthy after
//     HealthyThresholdCount consecutive successes.
//   - Checks start every HealthCheckIntervalSeconds whatever the target's
//     response time; no answer within HealthCheckTimeoutSeconds fails.
//   - A network load balancer reports every failure as
//     Target.FailedHealthChecks; Target.Timeout and
//     Target.ResponseCodeMismatch apply to application and gateway load
//     balancers only (Config.DetailedReasons).
//   - The Matcher of a network load balancer takes codes from 200 to 599,
//     default 200-399. An HTTP check's Host header holds the load
//     balancer's address and the listener port.
//   - With proxy protocol v2 enabled, health check connections carry a
//     header without the client connection information (a LOCAL header).
//   - When every target is unhealthy, the load balancer fails open and
//     routes to all of them.
//
// # Wiring (for the data plane)
//
// core.HealthCheck maps onto Config (Interval, Timeout, Healthy and
// Unhealthy thresholds, in seconds there) and onto a Prober (Protocol TCP
// gives TCPProbe; HTTP and HTTPS give HTTPProbe with Path and Matcher).
// The address probed is the target's IP and its health check port
// ("traffic-port" is the target's port). The data plane keys a
// Checker by (target group ARN, target id, port), calls Set for every
// registered target in use and Remove for the others (both idempotent),
// seeds Spec.Initial from the health the store holds so that a restart
// does not flap anything, and writes each Change with core's
// SetTargetHealth. Dial creates the socket in the load balancer's
// namespace with its private IP as the source.
package health
