package dataplane

// Kernel is what the reconciler changes: the host's namespaces, links,
// addresses, routes and rules. LinuxKernel is the real one, FakeKernel
// keeps the state in memory and renders it as text.
//
// The contract, which every implementation keeps:
//
//   - Ensure makes the kernel hold it exactly as given, creating it or
//     changing it in place, and is idempotent: calling it again with the
//     same item changes nothing and succeeds. Ensure of an item whose Key
//     exists in another form that cannot be changed in place (a link of
//     another kind, a veth whose peer is elsewhere) replaces it. What it
//     depends on (its namespace, its link, the bridge a veth joins) must
//     exist already: the reconciler orders operations so that it does.
//   - Remove deletes it; missing is not an error, and neither is a missing
//     namespace or link it would be in. Removing a Netns deletes every link
//     in it first, so that its veth pairs disappear at once even while a
//     process or socket keeps the namespace itself alive. Removing a Sysctl
//     does nothing.
//   - Observe returns every item in the namespaces whose names start with
//     prefix+"-", read from the kernel, with no Owners. It reports only
//     what Isthmus manages: lo, bridges and veth pairs, IPv4
//     addresses (not lo's 127.0.0.1), routes and rules of RouteProtocol, and
//     the sysctls in ManagedSysctls.
//
// This is the reconciler contract of cilium's statedb (Update, Delete,
// Prune): Ensure is Update, Remove is Delete, and Prune is the Applier
// diffing what Observe returns against the plan.
//
// The methods are called from one goroutine at a time.
type Kernel interface {
	Ensure(it Item) error
	Remove(it Item) error
	Observe(prefix string) (*HostConfig, error)
}

// RouteProtocol marks the routes and rules Isthmus installs (the rtm
// protocol field, `proto 73` in `ip route`), so that the kernel's own
// routes and rules are never mistaken for them.
const RouteProtocol = 73

// ManagedSysctls are the sysctls Plan sets, and so the ones Observe reads.
var ManagedSysctls = []string{
	"net.ipv4.ip_forward",
	"net.ipv6.conf.all.disable_ipv6",
	"net.ipv6.conf.default.disable_ipv6",
	"net.bridge.bridge-nf-call-iptables",
	"net.bridge.bridge-nf-call-ip6tables",
	"net.bridge.bridge-nf-call-arptables",
	BeLiberal,
}
