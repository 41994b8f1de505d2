// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// Isthmus's fast path: two tc ingress programs that let packets of
// established flows skip the IP stacks of the namespaces in the middle of
// a path, the way the kernel's own flowtables do (Isthmus cannot count on
// CONFIG_NF_FLOW_TABLE). Everything that is not a plain case returns
// TC_ACT_OK and takes the ordinary path, so the programs only ever
// shorten what the ordinary path would have done.
//
// isthmus_port runs on the ports of a VPC router's subnet bridges. A
// unicast IPv4 frame to the MAC address of another network interface on
// the same bridge is handed straight to that interface's namespace
// (bpf_redirect_peer), as the bridge would have forwarded it.
//
// isthmus_nat runs on the links of the namespaces that translate
// PrivateLink flows (an interface endpoint's, a load balancer node's).
// A TCP segment of an established flow that conntrack already translates
// (no SYN, FIN or RST: those keep conntrack's view of the flow current)
// gets conntrack's translation, a decremented TTL and the MAC addresses
// of the next hop, and goes straight into the next namespace. What it
// found is kept for a second in a flow cache, so that most segments cost
// one hash lookup rather than a conntrack and a route lookup; the loader
// forgets a namespace's cached flows whenever it deletes conntrack entries
// there, and a SYN, FIN or RST forgets its own flow, so a flow that
// conntrack no longer translates stops taking the shortcut at once.
//
// For the TCP listeners in nat_listeners, isthmus_nat also opens new
// flows itself (open_flow): it makes a client SYN's conntrack entry, with
// conntrack's own NAT and the translation the namespace's nftables rules
// would give, after the decisions those rules take for a new flow (the
// endpoint's security groups, a node's backend), so that the handshake and
// the end of the flow take the shortcut too; a SYN it does not take goes
// the ordinary way, where nftables decides. It follows such a flow's end
// in the entry's mark and timeout, since conntrack sees none of it, and a
// new flow on the tuple of one that ended takes the ended one's entry
// over when its decisions give the same translation (reopens).
//
// isthmus_nat also writes PROXY protocol v2 headers into the flows to the
// listeners whose target group asks for them (at an interface endpoint,
// and at a load balancer's node for clients in its own VPC),
// so that those flows are kernel NAT flows like the others: it makes the
// client's first segment after the handshake carry the header, and from
// then on moves the client's sequence numbers up by the header's length
// and the server's acknowledgments (and SACK blocks) down by as much,
// the way conntrack's own sequence adjustment does for the protocol
// helpers that rewrite payloads.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>

#include "bpf_endian.h"
#include "bpf_helpers.h"

char __license[] SEC("license") = "Dual BSD/GPL";

// The parts of the kernel's conntrack structures the program reads. The
// compiler records each access for CO-RE, so the loader relocates the
// offsets against the running kernel's BTF.
union nf_inet_addr {
	__u32 all[4];
	__be32 ip;
} __attribute__((preserve_access_index));

struct nf_conntrack_tuple {
	struct {
		union nf_inet_addr u3;
		union {
			__be16 all;
		} u;
	} src;
	struct {
		union nf_inet_addr u3;
		union {
			__be16 all;
		} u;
	} dst;
} __attribute__((preserve_access_index));

struct nf_conntrack_tuple_hash {
	struct nf_conntrack_tuple tuple;
} __attribute__((preserve_access_index));

struct ip_ct_tcp {
	__u8 state;
} __attribute__((preserve_access_index));

union nf_conntrack_proto {
	struct ip_ct_tcp tcp;
} __attribute__((preserve_access_index));

struct nf_conn {
	__u32 timeout;
	struct nf_conntrack_tuple_hash tuplehash[2];
	unsigned long status;
	__u32 mark;
	union nf_conntrack_proto proto;
} __attribute__((preserve_access_index));

// A conntrack entry the program allocated and has not inserted yet.
struct nf_conn___init {
	struct nf_conn ct;
} __attribute__((preserve_access_index));

// The namespace a packet is in, read from its device: the cookie is what
// SO_NETNS_COOKIE reports to the loader for the same namespace.
// (bpf_get_netns_cookie would answer for the packet's socket, and a
// forwarded packet has none.)
struct net {
	__u64 net_cookie;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} possible_net_t;

struct net_device {
	possible_net_t nd_net;
} __attribute__((preserve_access_index));

struct sk_buff {
	struct net_device *dev;
	__u8 ip_summed : 2;
} __attribute__((preserve_access_index));

extern void *bpf_cast_to_kern_ctx(void *ctx) __ksym;

static __always_inline __u64 netns_cookie(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	return kskb->dev->nd_net.net->net_cookie;
}

// A bitfield of a kernel structure, relocated against the running kernel
// (libbpf's BPF_CORE_READ_BITFIELD, for direct reads).
enum {
	FIELD_BYTE_OFFSET = 0,
	FIELD_BYTE_SIZE = 1,
	FIELD_SIGNED = 3,
	FIELD_LSHIFT_U64 = 4,
	FIELD_RSHIFT_U64 = 5,
};
#define CORE_BITFIELD(s, field)                                                                \
	({                                                                                     \
		const void *p = (const void *)s + __builtin_preserve_field_info((s)->field,    \
										FIELD_BYTE_OFFSET); \
		unsigned long long val = 0;                                                    \
		asm volatile("" : "=r"(p) : "0"(p));                                           \
		switch (__builtin_preserve_field_info((s)->field, FIELD_BYTE_SIZE)) {          \
		case 1:                                                                        \
			val = *(const unsigned char *)p;                                       \
			break;                                                                 \
		case 2:                                                                        \
			val = *(const unsigned short *)p;                                      \
			break;                                                                 \
		case 4:                                                                        \
			val = *(const unsigned int *)p;                                        \
			break;                                                                 \
		case 8:                                                                        \
			val = *(const unsigned long long *)p;                                  \
			break;                                                                 \
		}                                                                              \
		val <<= __builtin_preserve_field_info((s)->field, FIELD_LSHIFT_U64);           \
		val >>= __builtin_preserve_field_info((s)->field, FIELD_RSHIFT_U64);           \
		val;                                                                           \
	})

// The kernel's checksum states of a packet (skb->ip_summed).
#define CHECKSUM_NONE 0
#define CHECKSUM_UNNECESSARY 1
#define CHECKSUM_COMPLETE 2
#define CHECKSUM_PARTIAL 3

// ip_summed tells how the packet's transport checksum stands:
// CHECKSUM_PARTIAL, as for what a local TCP socket sends through a veth,
// means the kernel (or a device) is still to complete it, and the
// checksum field holds the pseudo header's sum.
static __always_inline __u8 ip_summed(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	return CORE_BITFIELD(kskb, ip_summed);
}

static __always_inline int partial_csum(struct __sk_buff *skb)
{
	return ip_summed(skb) == CHECKSUM_PARTIAL;
}

struct bpf_ct_opts {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u16 ct_zone_id;
	__u8 ct_zone_dir;
	__u8 reserved[3];
};

extern struct nf_conn *bpf_skb_ct_lookup(struct __sk_buff *skb, struct bpf_sock_tuple *tuple,
					 __u32 tuple__sz, struct bpf_ct_opts *opts,
					 __u32 opts__sz) __ksym;
extern void bpf_ct_release(struct nf_conn *ct) __ksym;
extern int bpf_ct_change_timeout(struct nf_conn *ct, __u32 timeout) __ksym;
extern int bpf_ct_change_status(struct nf_conn *ct, __u32 status) __ksym;
extern struct nf_conn___init *bpf_skb_ct_alloc(struct __sk_buff *skb, struct bpf_sock_tuple *tuple,
					       __u32 tuple__sz, struct bpf_ct_opts *opts,
					       __u32 opts__sz) __ksym;
extern struct nf_conn *bpf_ct_insert_entry(struct nf_conn___init *ct) __ksym;
enum nf_nat_manip_type {
	NF_NAT_MANIP_SRC,
	NF_NAT_MANIP_DST,
};
extern int bpf_ct_set_nat_info(struct nf_conn___init *ct, union nf_inet_addr *addr, int port,
			       enum nf_nat_manip_type manip) __ksym;
extern void bpf_ct_set_timeout(struct nf_conn___init *ct, __u32 timeout) __ksym;

#define IPS_SEEN_REPLY (1 << 1)
#define IPS_ASSURED (1 << 2)
#define IPS_CONFIRMED (1 << 3)
#define IPS_SRC_NAT (1 << 4)
#define IPS_DST_NAT (1 << 5)
#define IPS_DYING (1 << 9)
#define TCP_CONNTRACK_ESTABLISHED 3

// conntrack's default timeout of an established TCP flow (5 days), which
// the program renews since conntrack no longer sees the flow's segments:
// when less than RENEW_JIFFIES of it is left, which is a day at HZ=100 and
// 2.4 hours at HZ=1000. Renewing on every segment would write to the
// conntrack entry from both directions' CPUs and bounce its cache line.
#define TCP_ESTABLISHED_TIMEOUT_MS (5U * 24 * 3600 * 1000)
#define RENEW_JIFFIES (24U * 3600 * 100)

// The flows the NAT program opens itself (open_flow): their conntrack
// entries carry these bits in their mark, which packages dataplane and
// metrics read too (fastpath.CtMarkOwned and the others). conntrack sees
// none of such a flow's segments and does not follow its TCP state (it
// stays NONE), so the program keeps what it must know in the mark and sets
// the entry's timeout as conntrack's own TCP timeouts would be: 2 minutes
// for an unanswered SYN and after a FIN (renewed while segments still go
// through, as conntrack does in its closing states), 10 seconds after a
// RST, 5 days once the client has answered the server.
#define MARK_OWNED 0x10000000
#define MARK_CLOSING 0x20000000 // a FIN went through
#define MARK_RESET 0x40000000	// a RST went through
#define SYN_TIMEOUT_MS (120U * 1000)
#define CLOSING_TIMEOUT_MS (120U * 1000)
#define RESET_TIMEOUT_MS (10U * 1000)

#define IP_OFF ETH_HLEN
#define TCP_OFF (IP_OFF + sizeof(struct iphdr))
#define TCP_CSUM_OFF (TCP_OFF + offsetof(struct tcphdr, check))

// A router's forwarding database: the MAC address of a network
// interface, with the cookie of the router's namespace, to the ifindex of
// its port there and of the bridge (the subnet) the port belongs to.
struct fdb_key {
	__u64 netns;
	__u8 mac[ETH_ALEN];
	__u8 pad[2];
};

struct fdb_val {
	__u32 port;
	__u32 bridge;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct fdb_key);
	__type(value, struct fdb_val);
} fdb SEC(".maps");

// Each port's bridge, by the router namespace's cookie and the port's
// ifindex: a frame is shortcut only to a port of the bridge it came in
// on, as the bridge would carry it. (Between subnets, the router's route
// tables decide.)
struct port_key {
	__u64 netns;
	__u32 port;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct port_key);
	__type(value, __u32);
} bridges SEC(".maps");

// What the NAT program carried, per namespace and pair of links (in,
// out): the ordinary path's counters (nftables rules) do not see these
// packets, and package metrics adds them to theirs.
struct dev_key {
	__u64 netns;
	__u32 in;
	__u32 out;
};

struct dev_stats {
	__u64 packets;
	__u64 bytes;
	__u64 flows; // flows the program opened (open_flow)
	__u64 rsts;  // RSTs it carried
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct dev_key);
	__type(value, struct dev_stats);
} stats SEC(".maps");

static __always_inline void count(struct __sk_buff *skb, __u64 netns, __u32 out, int opened, int rst)
{
	struct dev_key k = {.netns = netns, .in = skb->ifindex, .out = out};
	struct dev_stats *s = bpf_map_lookup_elem(&stats, &k);
	if (s) {
		s->packets++;
		s->bytes += skb->len;
		s->flows += opened;
		s->rsts += rst;
		return;
	}
	struct dev_stats n = {.packets = 1, .bytes = skb->len, .flows = opened, .rsts = rst};
	bpf_map_update_elem(&stats, &k, &n, BPF_NOEXIST);
}

SEC("tc")
int isthmus_port(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return TC_ACT_OK;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || (eth->h_dest[0] & 1))
		return TC_ACT_OK;
	__u64 netns = netns_cookie(skb);
	struct port_key in = {.netns = netns, .port = skb->ifindex};
	__u32 *bridge = bpf_map_lookup_elem(&bridges, &in);
	if (!bridge)
		return TC_ACT_OK;
	struct fdb_key k = {.netns = netns};
	__builtin_memcpy(k.mac, eth->h_dest, ETH_ALEN);
	struct fdb_val *to = bpf_map_lookup_elem(&fdb, &k);
	if (!to || to->port == skb->ifindex || to->bridge != *bridge)
		return TC_ACT_OK;
	return bpf_redirect_peer(to->port, 0);
}

// csum_replace16 adds to a ones' complement sum the change of one 16-bit
// word from old to new.
static __always_inline __u32 csum_replace16(__u32 sum, __u16 old, __u16 new)
{
	return sum + (__u16)~old + new;
}

// The flow cache: a segment's tuple, in a namespace, to what it becomes
// and where it goes, until expires (bpf_ktime_get_coarse_ns), and what its
// flow's PROXY header moves.
struct flow_key {
	__u64 netns;
	__be32 saddr, daddr;
	__be16 sport, dport;
	__u32 pad;
};

// Which way a flow with a PROXY header goes through the endpoint.
#define PP_UP 1   // client to server: sequence numbers move up
#define PP_DOWN 2 // server to client: acknowledgments move down

struct flow_val {
	__be32 saddr, daddr;
	__be16 sport, dport;
	__u32 ifindex;
	__u8 smac[ETH_ALEN], dmac[ETH_ALEN];
	__u64 expires;
	__u32 pp_start; // the client's first sequence number after its SYN
	__u16 pp_len;	// the header's length; 0: no header in this flow
	__u8 pp_dir;	// PP_UP or PP_DOWN
	__u8 pp_acked;	// the server has acknowledged the header
	__u8 neigh;	// no neighbour entry yet: bpf_redirect_neigh (not cached)
	__u8 owned;	// a flow the program opened (open_flow)
	__u8 closing;	// ... and a FIN of it went through: conntrack knows
	__u8 fin;	// ... this direction's
	__u8 last;	// ... both directions' FINs: this one's next segment is its last
	__u8 pad[3];
};

// How long a cached flow is trusted before conntrack is asked again (and
// its timeout renewed).
#define FLOW_TTL_NS 1000000000ULL

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct flow_val);
} flows SEC(".maps");

// PROXY protocol v2 listeners: an interface endpoint's (or a load
// balancer's) address and a listener port, in its namespace, to the header
// the program writes, whose address block (bytes 16 to 27: the client's
// address, the endpoint's, their ports) it fills in per flow.
#define PP_MAX 128
#define PP_ADDRS 16

struct pp_key {
	__u64 netns;
	__be32 addr;
	__be16 port;
	__u16 pad;
};

struct pp_header {
	__u32 len;
	__u8 b[PP_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct pp_key);
	__type(value, struct pp_header);
} pp_listeners SEC(".maps");

// The namespaces that have PPv2 listeners (by cookie): only there do the
// segments the flow cache does not carry look for a header to move.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u32);
} pp_netns SEC(".maps");

// The flows with a header, by the client's tuple as it reaches the
// endpoint (or the load balancer): where the client's stream starts, the
// header's length, when the header last went out and whether the server
// acknowledged it.
struct pp_flow {
	__u64 sent;
	__u32 start;
	__u32 len;
	__u32 acked;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct flow_key);
	__type(value, struct pp_flow);
} pp_flows SEC(".maps");

// Where pp_payload puts a flow's header together (too big for the stack).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pp_header);
} pp_scratch SEC(".maps");

// The TCP listeners whose flows the NAT program opens itself, by the
// address and port a client's SYN goes to in a namespace (an interface
// endpoint's address; a load balancer node's end of a transit link): it
// makes the flow's conntrack entry with conntrack's own NAT, as the
// ordinary path's rules would have (bpf_skb_ct_alloc, bpf_ct_set_nat_info),
// and the SYN takes the shortcut like the rest of the flow. Everything
// that looks at conntrack (rejection, draining, metrics) finds such a flow
// where it finds the others, and a SYN the program does not take (a
// source the security groups do not allow, a listener not in this map)
// takes the ordinary path as before.
struct nat_listener {
	__u32 in;      // the link the SYNs come in on
	__u32 buckets; // at a node: its backend buckets (a power of two); 0 at an endpoint
	__be32 to;     // at an endpoint: the node's end of the transit link (the port stays)
	__be32 from;   // the address the flow leaves from (SNAT)
	__u32 flags;   // NAT_SG: the client must be in sg_allow
	__u32 pad;
};

#define NAT_SG 1

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pp_key);
	__type(value, struct nat_listener);
} nat_listeners SEC(".maps");

// A node's backends: by its namespace, listener port and bucket (the
// flow's hash modulo the listener's buckets), the target a new flow goes
// to, as the node's nftables map deals them.
struct backend_key {
	__u64 netns;
	__be16 port;
	__u16 pad;
	__u32 bucket;
};

struct backend {
	__be32 addr;
	__be16 port;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__type(key, struct backend_key);
	__type(value, struct backend);
} nat_backends SEC(".maps");

// What an endpoint's security groups allow in: by namespace and listener
// port, the source prefixes (96 bits of namespace, port and padding, then
// the prefix's own bits).
struct sg_key {
	__u32 prefixlen;
	__u32 netns[2];
	__be16 port;
	__u16 pad;
	__be32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sg_key);
	__type(value, __u32);
} sg_allow SEC(".maps");

// How long an unacknowledged header waits before the client's next
// segment at the start of its stream carries it again (TCP's minimum
// retransmission timeout).
#define PP_RESEND_NS 200000000ULL

static __always_inline int pp_namespace(__u64 netns)
{
	return bpf_map_lookup_elem(&pp_netns, &netns) != 0;
}

// pp_back maps a sequence number of the server's view of the client's
// stream (header first) back to the client's. Once the server has
// acknowledged the header, every number it sends is past it (the
// comparison with start would go wrong after 2 GiB of the stream).
static __always_inline __u32 pp_back(__u32 v, __u32 start, __u32 len, int acked)
{
	if (acked)
		return v - len;
	__s32 d = v - start;
	if (d >= (__s32)len)
		return v - len;
	if (d > 0)
		return start; // within the header
	return v;
}

// put32 writes a 32-bit word of the TCP header at off and updates the
// checksum for it.
static __always_inline void put32(struct __sk_buff *skb, __u32 off, __be32 old, __be32 new)
{
	if (old == new)
		return;
	bpf_l4_csum_replace(skb, TCP_CSUM_OFF, old, new, 4);
	bpf_skb_store_bytes(skb, off, &new, 4, 0);
}

#define IP_CSUM_OFF (IP_OFF + offsetof(struct iphdr, check))
#define IP_LEN_OFF (IP_OFF + offsetof(struct iphdr, tot_len))
#define TCP_MAX_HLEN 60

// pp_payload makes the client's segment carry, in place of whatever
// payload it had, the flow's header (len bytes: at the start of its
// stream; the server's acknowledgment then covers the header only, and
// the client sends its own bytes again) or nothing (len 0: data in a
// SYN, which the server would take before the header). th is the TCP
// header's length.
static __noinline int pp_payload(struct __sk_buff *skb, struct flow_key *k, __u32 th, __u32 len)
{
	if (th < sizeof(struct tcphdr) || th > TCP_MAX_HLEN)
		return -1;
	__u32 zero = 0;
	struct pp_header *scratch = bpf_map_lookup_elem(&pp_scratch, &zero);
	if (!scratch)
		return -1;
	__u8 *buf = scratch->b;
	if (len) {
		struct pp_key lk = {.netns = k->netns, .addr = k->daddr, .port = k->dport};
		struct pp_header *h = bpf_map_lookup_elem(&pp_listeners, &lk);
		if (!h || h->len != len)
			return -1;
		*scratch = *h;
		*(__be32 *)&buf[PP_ADDRS] = k->saddr;
		*(__be32 *)&buf[PP_ADDRS + 4] = k->daddr;
		*(__be16 *)&buf[PP_ADDRS + 8] = k->sport;
		*(__be16 *)&buf[PP_ADDRS + 10] = k->dport;
	}

	__be16 old_tot;
	if (bpf_skb_load_bytes(skb, IP_LEN_OFF, &old_tot, 2))
		return -1;
	__u32 poff = TCP_OFF + th;
	int partial = partial_csum(skb);
	if (bpf_skb_change_tail(skb, poff + len, 0))
		return -1;
	__u64 n = len;
	asm volatile("" : "+r"(n)); // bounds checked on the very register passed
	if (n) {
		if (n < PP_ADDRS + 12 || n > PP_MAX)
			return -1;
		if (bpf_skb_store_bytes(skb, poff, buf, n, BPF_F_RECOMPUTE_CSUM))
			return -1;
	}
	__be16 tot = bpf_htons(sizeof(struct iphdr) + th + len);
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_tot, tot, 2))
		return -1;
	if (bpf_skb_store_bytes(skb, IP_LEN_OFF, &tot, 2, BPF_F_RECOMPUTE_CSUM))
		return -1;

	// The TCP checksum, computed afresh for the new length: for
	// CHECKSUM_PARTIAL the pseudo header's sum, which the kernel
	// completes; otherwise the whole sum.
	struct {
		__be32 saddr, daddr;
		__u8 zero, proto;
		__be16 len;
	} ph = {.saddr = k->saddr, .daddr = k->daddr, .proto = IPPROTO_TCP, .len = bpf_htons(th + len)};
	__s64 sum = bpf_csum_diff(0, 0, (__be32 *)&ph, sizeof(ph), 0);
	if (!partial) {
		__u8 tb[TCP_MAX_HLEN];
		__u64 tl = th;
		asm volatile("" : "+r"(tl));
		if (tl < sizeof(struct tcphdr) || tl > TCP_MAX_HLEN)
			return -1;
		if (bpf_skb_load_bytes(skb, TCP_OFF, tb, tl))
			return -1;
		*(__u16 *)&tb[offsetof(struct tcphdr, check)] = 0;
		sum = bpf_csum_diff(0, 0, (__be32 *)tb, tl, sum);
		// buf is zero past len (the loader pads the header).
		__u64 pl = (n + 3) & ~3ULL;
		asm volatile("" : "+r"(pl));
		if (pl > PP_MAX)
			return -1;
		if (pl)
			sum = bpf_csum_diff(0, 0, (__be32 *)buf, pl, sum);
	}
	if (sum < 0)
		return -1;
	__u32 s32 = sum;
	s32 = (s32 & 0xffff) + (s32 >> 16);
	s32 = (s32 & 0xffff) + (s32 >> 16);
	__u16 check = partial ? (__u16)s32 : (__u16)~s32;
	if (bpf_skb_store_bytes(skb, TCP_CSUM_OFF, &check, 2, BPF_F_RECOMPUTE_CSUM))
		return -1;
	return 0;
}

// pp_syn notes a client's SYN to a PPv2 listener: its stream starts after
// the SYN's sequence number. (A SYN sent again, or a new flow on the same
// tuple, starts it afresh.) Data in the SYN (TCP Fast Open) is dropped:
// the server would take it before the header; the client sends it again
// once the server has acknowledged only the SYN. It returns -1 when the
// SYN must be dropped.
static __always_inline int pp_syn(struct __sk_buff *skb, struct iphdr *ip, struct tcphdr *tcp, struct flow_key *k)
{
	struct pp_key lk = {.netns = k->netns, .addr = k->daddr, .port = k->dport};
	struct pp_header *h = bpf_map_lookup_elem(&pp_listeners, &lk);
	if (!h)
		return 0;
	struct pp_flow f = {.start = bpf_ntohl(tcp->seq) + 1, .len = h->len};
	bpf_map_update_elem(&pp_flows, k, &f, BPF_ANY);
	__u32 th = tcp->doff * 4;
	if (bpf_ntohs(ip->tot_len) > sizeof(struct iphdr) + th)
		return pp_payload(skb, k, th, 0);
	return 0;
}

// bpf_loop (kernel 5.17): the verifier checks the callback once, not once
// per iteration.
static long (*bpf_loop)(__u32 nr_loops, void *callback_fn, void *callback_ctx, __u64 flags) = (void *)181;

// sack_walk is where pp_sack's walk over the TCP options stands.
struct sack_walk {
	struct __sk_buff *skb;
	__u32 off, stop; // the next option, the end of the options
	__u32 start, len;
	int acked;
};

// sack_option looks at one option: it moves a SACK option's edges down,
// and tells bpf_loop to stop (1) at the end of the options.
static long sack_option(__u32 i, struct sack_walk *w)
{
	struct __sk_buff *skb = w->skb;
	__u32 off = w->off;
	__u8 opt[2];
	if (off >= w->stop || bpf_skb_load_bytes(skb, off, opt, 1))
		return 1;
	if (opt[0] == 0) // end of options
		return 1;
	if (opt[0] == 1) { // no-op
		w->off = off + 1;
		return 0;
	}
	if (off + 2 > w->stop || bpf_skb_load_bytes(skb, off, opt, 2) || opt[1] < 2)
		return 1;
	if (opt[0] == 5) { // SACK: up to four blocks of two edges
		for (int b = 0; b < 4; b++) {
			__u32 e = off + 2 + b * 8;
			if (e + 8 > off + opt[1] || e + 8 > w->stop)
				break;
			__be32 edge[2];
			if (bpf_skb_load_bytes(skb, e, edge, 8))
				break;
			put32(skb, e, edge[0], bpf_htonl(pp_back(bpf_ntohl(edge[0]), w->start, w->len, w->acked)));
			put32(skb, e + 4, edge[1], bpf_htonl(pp_back(bpf_ntohl(edge[1]), w->start, w->len, w->acked)));
		}
	}
	w->off = off + opt[1];
	return 0;
}

// pp_sack moves the edges of the SACK blocks in the server's segment
// down (the options of a TCP header th bytes long: at most 40 bytes, so
// at most 40 options).
static __noinline void pp_sack(struct __sk_buff *skb, __u32 th, __u32 start, __u32 len, int acked)
{
	struct sack_walk w = {.skb = skb, .off = TCP_OFF + sizeof(struct tcphdr), .stop = TCP_OFF + th,
			      .start = start, .len = len, .acked = acked};
	bpf_loop(TCP_MAX_HLEN - sizeof(struct tcphdr), sack_option, &w, 0);
}

// pp_edit moves what a segment of a flow with a header says (f, with fv
// its cache entry if any) from the client's view of the client's stream
// to the server's or back, or makes it carry the header. It returns 1
// when the segment changed its size (it then takes the ordinary path,
// unless it is of a flow the program opened: conntrack knows nothing of
// those), -1 when it must be dropped.
static __noinline int pp_edit(struct __sk_buff *skb, struct flow_key *k, struct flow_val *f,
				   struct flow_val *fv, __u64 now)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct tcphdr *tcp = data + TCP_OFF;
	if ((void *)(tcp + 1) > end)
		return -1;
	__u32 th = tcp->doff * 4;
	__u32 start = f->pp_start, len = f->pp_len;
	if (f->pp_dir == PP_UP) {
		__be32 seq = tcp->seq;
		if (bpf_ntohl(seq) == start && !tcp->fin && !tcp->rst) {
			struct pp_flow *pf = bpf_map_lookup_elem(&pp_flows, k);
			if (pf && !pf->acked && (!pf->sent || now - pf->sent > PP_RESEND_NS)) {
				pf->sent = now;
				return pp_payload(skb, k, th, len) ? -1 : 1;
			}
		}
		put32(skb, TCP_OFF + offsetof(struct tcphdr, seq), seq, bpf_htonl(bpf_ntohl(seq) + len));
		return 0;
	}
	if (!tcp->ack)
		return 0;
	__be32 ack = tcp->ack_seq;
	int acked = f->pp_acked;
	if (!acked && (__s32)(bpf_ntohl(ack) - start) >= (__s32)len) {
		acked = 1;
		// The client's tuple: what the segment becomes.
		struct flow_key ck = {.netns = k->netns, .saddr = f->daddr, .daddr = f->saddr,
				      .sport = f->dport, .dport = f->sport};
		struct pp_flow *pf = bpf_map_lookup_elem(&pp_flows, &ck);
		if (pf)
			pf->acked = 1;
		if (fv)
			fv->pp_acked = 1;
	}
	put32(skb, TCP_OFF + offsetof(struct tcphdr, ack_seq), ack, bpf_htonl(pp_back(bpf_ntohl(ack), start, len, acked)));
	if (th > sizeof(struct tcphdr))
		pp_sack(skb, th, start, len, acked);
	return 0;
}

// forget drops flow k's cache entry. (Looking first is cheaper: most
// handshakes and closes have none, and deleting from an LRU map locks.)
static __always_inline void forget(struct flow_key *k)
{
	if (bpf_map_lookup_elem(&flows, k))
		bpf_map_delete_elem(&flows, k);
}

// cache puts f into the flow cache as flow k's entry: in place when the
// tuple has one (a flow's entry renewed, a tuple used anew), which spares
// the LRU map taking a free entry, and evicting one when it has none.
// Another CPU may read an entry while it is written. That is harmless:
// an entry is written over either for the same conntrack entry, so with
// the same translation, or after a client's SYN set it expired, so that
// no reader uses it (a SYN drops the cached entries of a tuple whose flow
// is not the program's, and lookup those of a flow whose conntrack entry
// it expires).
static __always_inline void cache(struct flow_key *k, struct flow_val *f)
{
	struct flow_val *old = bpf_map_lookup_elem(&flows, k);
	if (old)
		*old = *f;
	else
		bpf_map_update_elem(&flows, k, f, BPF_ANY);
}

// lookup's flags: the segment's TOS byte in the second byte, and these.
#define LOOKUP_PP 1    // the namespace has PPv2 listeners
#define LOOKUP_CACHE 2 // cache what was found
#define LOOKUP_SYN 4   // the segment is a SYN (or a SYN-ACK)
#define LOOKUP_FIN 8   // a FIN
#define LOOKUP_RST 16  // a RST
#define LOOKUP_OPEN 32 // a client's SYN

// route finds where the translated segment of f goes: the link and the
// next hop's MAC addresses. A flow the program opened (owned) whose next
// hop has no neighbour entry yet goes out through bpf_redirect_neigh,
// which resolves it: the ordinary path would not know the flow.
static __always_inline int route(struct __sk_buff *skb, struct flow_val *f, __u32 tos, int owned, __u32 in)
{
	struct bpf_fib_lookup fib = {
		.family = 2, // AF_INET
		.tos = tos,
		.l4_protocol = IPPROTO_TCP,
		.sport = f->sport,
		.dport = f->dport,
		.ifindex = in,
		.ipv4_src = f->saddr,
		.ipv4_dst = f->daddr,
	};
	// tot_len left 0: the helper then checks the skb against the
	// output device's MTU as forwarding would, GSO included.
	long r = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (r == BPF_FIB_LKUP_RET_NO_NEIGH && owned) {
		f->ifindex = fib.ifindex;
		f->neigh = 1;
		return 1;
	}
	if (r != BPF_FIB_LKUP_RET_SUCCESS)
		return 0;
	f->ifindex = fib.ifindex;
	__builtin_memcpy(f->smac, fib.smac, ETH_ALEN);
	__builtin_memcpy(f->dmac, fib.dmac, ETH_ALEN);
	return 1;
}

// keep_owned follows the TCP state of a flow the program opened, which
// conntrack does not see, in its entry's mark and timeout.
// It reports 1 for a client's SYN on the tuple of a flow that ended: the
// SYN starts a new flow there (as conntrack ends a flow in TIME_WAIT that
// a new SYN reuses), whose security groups and backend are decided
// afresh (lookup).
static __always_inline int keep_owned(struct nf_conn *ct, unsigned long status, __u32 mark, __u32 flags)
{
	if (flags & LOOKUP_RST) {
		if (!(mark & MARK_RESET)) {
			ct->mark = mark | MARK_CLOSING | MARK_RESET;
			bpf_ct_change_timeout(ct, RESET_TIMEOUT_MS);
		}
		return 0;
	}
	if (flags & LOOKUP_SYN) {
		if ((mark & (MARK_CLOSING | MARK_RESET)) && (flags & LOOKUP_OPEN))
			return 1;
		return 0;
	}
	if (mark & MARK_RESET)
		return 0;
	if ((flags & LOOKUP_FIN) || (mark & MARK_CLOSING)) {
		// Renewed while segments go through (at most once a second per
		// direction: the flow cache holds them in between).
		if (!(mark & MARK_CLOSING))
			ct->mark = mark | MARK_CLOSING;
		bpf_ct_change_timeout(ct, CLOSING_TIMEOUT_MS);
		return 0;
	}
	if (!(status & IPS_ASSURED))
		bpf_ct_change_status(ct, status | IPS_ASSURED | IPS_SEEN_REPLY);
	if ((__s32)(ct->timeout - (__u32)bpf_jiffies64()) < (__s32)RENEW_JIFFIES)
		bpf_ct_change_timeout(ct, TCP_ESTABLISHED_TIMEOUT_MS);
	return 0;
}

// cache_reply puts the reply direction of a flow the program opened into
// the flow cache, f being what the segment of k (a client's SYN, skb)
// becomes: the server's SYN-ACK finds it there. Replies go back the way
// the SYN came, to the hop it came from (these namespaces route
// symmetrically), so no route lookup is needed. The client's direction is
// cached by its next segment's lookup, which also tells conntrack that the
// handshake is done (keep_owned).
static __noinline void cache_reply(struct __sk_buff *skb, struct flow_key *k, struct flow_val *f)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if (f->neigh || (void *)(eth + 1) > end)
		return;
	struct flow_key rk = {.netns = k->netns, .saddr = f->daddr, .daddr = f->saddr,
			      .sport = f->dport, .dport = f->sport};
	struct flow_val r = {.saddr = k->daddr, .daddr = k->saddr, .sport = k->dport, .dport = k->sport,
			     .ifindex = skb->ifindex, .owned = 1,
			     .expires = bpf_ktime_get_coarse_ns() + FLOW_TTL_NS};
	__builtin_memcpy(r.smac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(r.dmac, eth->h_source, ETH_ALEN);
	// A flow with a PROXY header: the server's acknowledgments move down
	// from its SYN-ACK on.
	if (pp_namespace(k->netns)) {
		struct pp_flow *pf = bpf_map_lookup_elem(&pp_flows, k);
		if (pf && pf->len <= PP_MAX) {
			r.pp_start = pf->start;
			r.pp_len = pf->len;
			r.pp_dir = PP_DOWN;
		}
	}
	cache(&rk, &r);
}

// ct_key is how conntrack is asked about flow k: its tuple, in the
// namespace of the packet, TCP.
struct ct_key {
	struct bpf_sock_tuple t;
	struct bpf_ct_opts opts;
};

static __always_inline void ct_key(struct ct_key *q, struct flow_key *k)
{
	q->t.ipv4.saddr = k->saddr;
	q->t.ipv4.daddr = k->daddr;
	q->t.ipv4.sport = k->sport;
	q->t.ipv4.dport = k->dport;
	q->opts.netns_id = -1;
	q->opts.l4proto = IPPROTO_TCP;
}

static __always_inline struct nf_conn *ct_find(struct __sk_buff *skb, struct ct_key *q)
{
	return bpf_skb_ct_lookup(skb, &q->t, sizeof(q->t.ipv4), &q->opts, sizeof(q->opts));
}

// becomes fills f with what a segment becomes when its flow's other
// direction has tuple o: that tuple read backwards.
static __always_inline void becomes(struct flow_val *f, struct nf_conntrack_tuple *o)
{
	f->saddr = o->dst.u3.ip;
	f->daddr = o->src.u3.ip;
	f->sport = o->dst.u.all;
	f->dport = o->src.u.all;
}

// decide takes the decisions the ordinary path's rules take for a new
// flow of a client's SYN to listener l (k, in the namespace it reaches):
// the endpoint's security groups, a node's backend. It fills where the
// flow goes (to, port in host order) and reports whether the program may
// open the flow; when not, the ordinary path decides as before.
static __always_inline int decide(struct __sk_buff *skb, struct flow_key *k, struct nat_listener *l,
				  __be32 *to, int *port)
{
	if (l->in != skb->ifindex)
		return 0;
	if (l->flags & NAT_SG) {
		struct sg_key sk = {.prefixlen = 96 + 32, .port = k->dport, .addr = k->saddr};
		__builtin_memcpy(sk.netns, &k->netns, sizeof(sk.netns));
		if (!bpf_map_lookup_elem(&sg_allow, &sk))
			return 0;
	}
	if (!l->buckets) {
		*to = l->to;
		*port = bpf_ntohs(k->dport);
		return 1;
	}
	struct backend_key bk = {.netns = k->netns, .port = k->dport,
				 .bucket = bpf_get_hash_recalc(skb) & (l->buckets - 1)};
	struct backend *b = bpf_map_lookup_elem(&nat_backends, &bk);
	if (!b)
		return 0;
	*to = b->addr;
	*port = bpf_ntohs(b->port);
	return 1;
}

// reopens tells whether a client's SYN to listener l on the tuple of a
// flow that ended (k, f being what the ended flow's segments became)
// may take over the flow's conntrack entry: the decisions taken afresh
// for the SYN (decide) give the same translation. Making a new entry
// would then give the same one too (the source port conntrack's NAT
// chose for the old flow is free again for the tuple that had it).
static __noinline int reopens(struct __sk_buff *skb, struct flow_key *k, struct nat_listener *l, struct flow_val *f)
{
	__be32 to = 0;
	int port = 0;
	if (!decide(skb, k, l, &to, &port))
		return 0;
	return f->daddr == to && f->dport == bpf_htons(port) && f->saddr == l->from;
}

// lookup asks conntrack what the segment of flow k becomes and the route
// where it goes, and fills f; in a namespace with PPv2 listeners, it also
// finds the flow's header. It reports whether the segment may take the
// shortcut (1, or 2 for a client's SYN that starts a new flow in the
// entry of one that ended), must take the ordinary path (0), or has no
// conntrack entry at all (-1); f's translation and header are filled
// even when not. The ordinary path leaves a flow's handshake and end to
// conntrack, so only an established flow's other segments take the
// shortcut; every segment of a flow the program opened itself does.
//
// l is the listener of a client's SYN (LOOKUP_OPEN), or 0. A SYN on the
// tuple of a flow the program opened that ended takes over its entry
// when the decisions taken afresh give the same translation (reopens:
// clients that open many connections reuse their ports within the
// minutes such an entry lives), and otherwise expires it, for open_flow
// to make a new one.
static __noinline int lookup(struct __sk_buff *skb, struct flow_key *k, struct flow_val *f, __u32 flags,
			     struct nat_listener *l)
{
	__u8 tos = flags >> 8;
	struct ct_key q = {};
	ct_key(&q, k);
	struct nf_conn *ct = ct_find(skb, &q);
	if (!ct)
		return -1;
	unsigned long status = ct->status;
	__u32 mark = ct->mark;
	int owned = (mark & MARK_OWNED) != 0;
	int ok = (status & (IPS_SRC_NAT | IPS_DST_NAT)) && (status & IPS_CONFIRMED) && !(status & IPS_DYING);
	if (!owned)
		ok = ok && (status & IPS_ASSURED) && ct->proto.tcp.state == TCP_CONNTRACK_ESTABLISHED &&
		     !(flags & (LOOKUP_SYN | LOOKUP_FIN | LOOKUP_RST));
	// Which way the segment goes: the other direction's tuple, read
	// backwards, is what the segment becomes.
	int reply = !(ct->tuplehash[0].tuple.src.u3.ip == k->saddr &&
		      ct->tuplehash[0].tuple.src.u.all == k->sport &&
		      ct->tuplehash[0].tuple.dst.u3.ip == k->daddr &&
		      ct->tuplehash[0].tuple.dst.u.all == k->dport);
	becomes(f, reply ? &ct->tuplehash[0].tuple : &ct->tuplehash[1].tuple);
	int ended = 0, opened = 0;
	if (ok && owned)
		ended = keep_owned(ct, status, mark, flags);
	else if (ok && (__s32)(ct->timeout - (__u32)bpf_jiffies64()) < (__s32)RENEW_JIFFIES)
		bpf_ct_change_timeout(ct, TCP_ESTABLISHED_TIMEOUT_MS);
	if (ended && !reply && l && reopens(skb, k, l, f)) {
		ct->mark = MARK_OWNED;
		bpf_ct_change_timeout(ct, SYN_TIMEOUT_MS);
		ended = 0;
		opened = 1;
	} else if (ended) {
		bpf_ct_change_timeout(ct, 0);
	}
	bpf_ct_release(ct);
	if (ended) {
		// The ended flow's cache entries go with it: the new flow's
		// entry may translate otherwise, and cache() writes over an
		// entry in place. Looking the tuple up again collects the
		// expired conntrack entry.
		struct flow_key rk = {.netns = k->netns, .saddr = f->daddr, .daddr = f->saddr,
				      .sport = f->dport, .dport = f->sport};
		forget(k);
		forget(&rk);
		ct = ct_find(skb, &q);
		if (ct)
			bpf_ct_release(ct);
		return -1;
	}
	if (flags & LOOKUP_PP) {
		// A client's segment is in the original direction, as it
		// reaches the endpoint; a server's becomes the client's tuple
		// reversed.
		struct flow_key ck = *k;
		if (reply) {
			ck.saddr = f->daddr;
			ck.daddr = f->saddr;
			ck.sport = f->dport;
			ck.dport = f->sport;
		}
		struct pp_flow *pf = bpf_map_lookup_elem(&pp_flows, &ck);
		if (pf && pf->len <= PP_MAX) {
			f->pp_start = pf->start;
			f->pp_len = pf->len;
			f->pp_dir = reply ? PP_DOWN : PP_UP;
			f->pp_acked = pf->acked;
		}
	}
	if (!ok || !route(skb, f, tos, owned, skb->ifindex))
		return 0;
	f->expires = bpf_ktime_get_coarse_ns() + FLOW_TTL_NS;
	f->owned = owned;
	if ((flags & LOOKUP_CACHE) && !f->neigh)
		cache(k, f);
	return 1 + opened;
}

// close_owned tells the conntrack entry of a flow the program opened
// that a FIN or RST (flags) of it went through.
static __noinline void close_owned(struct __sk_buff *skb, struct flow_key *k, __u32 flags)
{
	struct ct_key q = {};
	ct_key(&q, k);
	struct nf_conn *ct = ct_find(skb, &q);
	if (!ct)
		return;
	__u32 mark = ct->mark;
	if (mark & MARK_OWNED)
		keep_owned(ct, ct->status, mark, flags);
	bpf_ct_release(ct);
}

// close_cached is close_owned for a cached flow fv (k): after its first
// FIN, both directions' cache entries know that conntrack knows, so the
// other direction's FIN need not tell it again. It reports whether fv's
// entry went: the cache holds an ended flow's entries no longer than its
// last segments need them (after a RST, none; after both directions'
// FINs, the first closer's until its next segment, the acknowledgment of
// the other's FIN), so that it holds live flows only: a small map stays in
// the CPU's caches, and new flows' entries take free ones, not evicted.
// (A segment after that finds the flow in conntrack, as any uncached one.)
static __noinline int close_cached(struct __sk_buff *skb, struct flow_key *k, struct flow_val *fv, int rst)
{
	struct flow_key rk = {.netns = k->netns, .saddr = fv->daddr, .daddr = fv->saddr,
			      .sport = fv->dport, .dport = fv->sport};
	if (rst) {
		close_owned(skb, k, LOOKUP_RST);
		forget(&rk);
		bpf_map_delete_elem(&flows, k);
		return 1;
	}
	if (!fv->closing) {
		close_owned(skb, k, LOOKUP_FIN);
		fv->closing = 1;
		fv->fin = 1;
		struct flow_val *rv = bpf_map_lookup_elem(&flows, &rk);
		if (rv)
			rv->closing = 1;
		return 0;
	}
	if (fv->fin)
		return 0; // this direction's FIN again
	struct flow_val *rv = bpf_map_lookup_elem(&flows, &rk);
	if (rv)
		rv->last = 1;
	bpf_map_delete_elem(&flows, k);
	return 1;
}

// open_flow opens the flow of a client's SYN to listener l (k, in the
// namespace it reaches) when decide lets it, and makes the flow's
// conntrack entry with the same translation the ordinary path's rules
// would give it, conntrack's NAT choosing the source port (unique among
// all the namespace's flows, whoever opened them). It fills f and reports
// whether the SYN takes the shortcut.
static __noinline int open_flow(struct __sk_buff *skb, struct flow_key *k, struct nat_listener *l,
				struct flow_val *f, __u32 tos)
{
	union nf_inet_addr to = {}, from = {};
	int port = 0;
	if (!decide(skb, k, l, &to.ip, &port))
		return 0;
	from.ip = l->from;

	struct ct_key q = {};
	ct_key(&q, k);
	struct nf_conn___init *ni = bpf_skb_ct_alloc(skb, &q.t, sizeof(q.t.ipv4), &q.opts, sizeof(q.opts));
	if (!ni)
		return 0;
	ni->ct.mark = MARK_OWNED;
	// Destination first, as prerouting comes before postrouting: the
	// source port is then chosen for the flow's final tuple.
	if (bpf_ct_set_nat_info(ni, &to, port, NF_NAT_MANIP_DST) ||
	    bpf_ct_set_nat_info(ni, &from, 0, NF_NAT_MANIP_SRC)) {
		// Inserted to be freed: an entry expired at once is dropped
		// by the next lookup or conntrack's collector.
		bpf_ct_set_timeout(ni, 0);
		struct nf_conn *gone = bpf_ct_insert_entry(ni);
		if (gone)
			bpf_ct_release(gone);
		return 0;
	}
	bpf_ct_set_timeout(ni, SYN_TIMEOUT_MS);
	struct nf_conn *ct = bpf_ct_insert_entry(ni);
	if (!ct)
		return 0; // the same SYN's entry inserted by another CPU first
	becomes(f, &ct->tuplehash[1].tuple);
	bpf_ct_release(ct);
	f->owned = 1;
	return route(skb, f, tos, 1, skb->ifindex);
}

// syn takes a SYN (or a SYN-ACK) of a flow the program opened, or opens
// the flow of a client's SYN (LOOKUP_OPEN in flags) to one of the
// listeners in nat_listeners. It reports whether the segment takes the
// shortcut (2: a flow it opened just now).
static __noinline int syn(struct __sk_buff *skb, struct flow_key *k, struct flow_val *f, __u32 flags)
{
	int r;
	struct nat_listener *l = 0;
	if (flags & LOOKUP_OPEN) {
		struct pp_key lk = {.netns = k->netns, .addr = k->daddr, .port = k->dport};
		l = bpf_map_lookup_elem(&nat_listeners, &lk);
	}
	// Conntrack is asked first: clients that open many connections reuse
	// their ports within the minutes an ended flow's entry lives, and such
	// a tuple's SYN takes the entry over (lookup); only a tuple conntrack
	// does not know gets a new one.
	r = lookup(skb, k, f, flags | LOOKUP_SYN, l);
	if (r < 0 && l && open_flow(skb, k, l, f, flags >> 8))
		r = 2; // a new tuple, or one whose flow ended
	if (r > 0 && f->owned && (flags & LOOKUP_OPEN))
		cache_reply(skb, k, f);
	return r > 0 ? r : 0;
}

SEC("tc")
int isthmus_nat(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct tcphdr *tcp = (void *)(ip + 1);

	if ((void *)(tcp + 1) > end)
		return TC_ACT_OK;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 || ip->protocol != IPPROTO_TCP)
		return TC_ACT_OK;
	if ((ip->frag_off & bpf_htons(0x3fff)) || ip->ttl <= 1)
		return TC_ACT_OK;

	struct flow_key fk = {
		.netns = netns_cookie(skb),
		.saddr = ip->saddr,
		.daddr = ip->daddr,
		.sport = tcp->source,
		.dport = tcp->dest,
	};
	__u16 ttlproto = *(__u16 *)&ip->ttl;
	__u32 tos = (__u32)ip->tos << 8;
	__u64 now = bpf_ktime_get_coarse_ns();
	struct flow_val f = {};
	struct flow_val *fv = 0;
	// The flags, read before any helper may move the packet.
	int syn_ = tcp->syn, ack = tcp->ack, fin = tcp->fin, rst = tcp->rst;
	int fast = 0, opened = 0;
	if (syn_) {
		if (fin || rst)
			return TC_ACT_OK;
		// The server's SYN-ACK of a flow the program opened: cached
		// with the flow.
		__u32 flags = LOOKUP_OPEN;
		if (ack) {
			flags = 0;
			fv = bpf_map_lookup_elem(&flows, &fk);
			if (fv && fv->owned && now < fv->expires) {
				f = *fv;
				fv = 0;
				goto shortcut;
			}
			fv = 0;
			forget(&fk);
		} else {
			if (pp_namespace(fk.netns) && pp_syn(skb, ip, tcp, &fk) < 0)
				return TC_ACT_SHOT;
			// The tuple's cached flow goes: the next segment tells
			// conntrack the handshake is done. The entry of one the
			// program opened stays, expired, for that segment's
			// lookup to write anew in place.
			fv = bpf_map_lookup_elem(&flows, &fk);
			if (fv && fv->owned)
				fv->expires = 0;
			else if (fv)
				bpf_map_delete_elem(&flows, &fk);
			fv = 0;
		}
		fast = syn(skb, &fk, &f, tos | flags);
		if (!fast)
			return TC_ACT_OK;
		opened = fast == 2;
	} else {
		fv = bpf_map_lookup_elem(&flows, &fk);
		if (fv && now < fv->expires && (fv->owned || !(fin || rst))) {
			// The end of a flow the program opened: the cached
			// translation stays good, its conntrack entry learns
			// that the flow is closing, and its cache entries go
			// once it ended (close_cached; the first closer's with
			// its next segment, marked last).
			f = *fv;
			fast = 1;
			if ((fin || rst) && close_cached(skb, &fk, fv, rst)) {
				fv = 0;
			} else if (fv->last) {
				bpf_map_delete_elem(&flows, &fk);
				fv = 0;
			}
		} else if (fin || rst) {
			// The end of a flow: conntrack follows it on the
			// ordinary path, or the program (for a flow it opened)
			// on the shortcut. In a namespace with PPv2 listeners
			// the segment may still have a header to account for.
			fv = 0;
			forget(&fk);
			fast = lookup(skb, &fk, &f, tos | (rst ? LOOKUP_RST : LOOKUP_FIN) | (pp_namespace(fk.netns) ? LOOKUP_PP : 0),
				      0) > 0;
		} else {
			fv = 0;
			fast = lookup(skb, &fk, &f, tos | LOOKUP_CACHE | (pp_namespace(fk.netns) ? LOOKUP_PP : 0), 0) > 0;
		}
	}
	if (f.pp_len) {
		int r = pp_edit(skb, &fk, &f, fv, now);
		if (r < 0)
			return TC_ACT_SHOT;
		if (r > 0 && !f.owned)
			return TC_ACT_OK;
	}
	if (!fast)
		return TC_ACT_OK;

shortcut:
	count(skb, fk.netns, f.ifindex, opened, rst);

	// A CHECKSUM_COMPLETE packet's skb->csum must follow the pseudo
	// header's change, which the helper knows how to do; the other kinds
	// are updated in place below.
	__u8 summed = ip_summed(skb);
	if (summed == CHECKSUM_COMPLETE) {
		if (fk.saddr != f.saddr)
			bpf_l4_csum_replace(skb, TCP_CSUM_OFF, fk.saddr, f.saddr, BPF_F_PSEUDO_HDR | 4);
		if (fk.daddr != f.daddr)
			bpf_l4_csum_replace(skb, TCP_CSUM_OFF, fk.daddr, f.daddr, BPF_F_PSEUDO_HDR | 4);
		if (fk.sport != f.sport)
			bpf_l4_csum_replace(skb, TCP_CSUM_OFF, fk.sport, f.sport, 2);
		if (fk.dport != f.dport)
			bpf_l4_csum_replace(skb, TCP_CSUM_OFF, fk.dport, f.dport, 2);
	}

	// The rest in place (helpers may have moved the data: look again).
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	eth = data;
	ip = (void *)(eth + 1);
	tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > end)
		return TC_ACT_SHOT;
	// The TCP checksum (RFC 1624). CHECKSUM_PARTIAL, what a local socket
	// sends through a veth and so nearly every packet here: the field
	// holds the pseudo header's sum, not inverted, which only the
	// addresses change. Otherwise the full sum, ports included.
	if (summed != CHECKSUM_COMPLETE) {
		__u32 d = 0;
		d = csum_replace16(d, fk.saddr, f.saddr);
		d = csum_replace16(d, fk.saddr >> 16, f.saddr >> 16);
		d = csum_replace16(d, fk.daddr, f.daddr);
		d = csum_replace16(d, fk.daddr >> 16, f.daddr >> 16);
		__u32 c;
		if (summed == CHECKSUM_PARTIAL) {
			c = tcp->check + d;
		} else {
			d = csum_replace16(d, fk.sport, f.sport);
			d = csum_replace16(d, fk.dport, f.dport);
			c = (__u16)~tcp->check + d;
		}
		c = (c & 0xffff) + (c >> 16);
		c = (c & 0xffff) + (c >> 16);
		tcp->check = summed == CHECKSUM_PARTIAL ? (__u16)c : (__u16)~c;
	}
	// The IP header checksum, updated for the words that change
	// (RFC 1624): both addresses and the TTL.
	__u16 ttlproto2 = ttlproto;
	((__u8 *)&ttlproto2)[0]--;
	__u32 sum = (__u16)~ip->check;
	sum = csum_replace16(sum, fk.saddr, f.saddr);
	sum = csum_replace16(sum, fk.saddr >> 16, f.saddr >> 16);
	sum = csum_replace16(sum, fk.daddr, f.daddr);
	sum = csum_replace16(sum, fk.daddr >> 16, f.daddr >> 16);
	sum = csum_replace16(sum, ttlproto, ttlproto2);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	ip->check = (__u16)~sum;
	ip->saddr = f.saddr;
	ip->daddr = f.daddr;
	ip->ttl--;
	tcp->source = f.sport;
	tcp->dest = f.dport;
	if (f.neigh)
		return bpf_redirect_neigh(f.ifindex, 0, 0, 0);
	__builtin_memcpy(eth->h_dest, f.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, f.smac, ETH_ALEN);
	return bpf_redirect_peer(f.ifindex, 0);
}
