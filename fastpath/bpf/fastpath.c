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
	union nf_conntrack_proto proto;
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
} __attribute__((preserve_access_index));

extern void *bpf_cast_to_kern_ctx(void *ctx) __ksym;

static __always_inline __u64 netns_cookie(struct __sk_buff *skb)
{
	struct sk_buff *kskb = bpf_cast_to_kern_ctx(skb);
	return kskb->dev->nd_net.net->net_cookie;
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
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct dev_key);
	__type(value, struct dev_stats);
} stats SEC(".maps");

static __always_inline void count(struct __sk_buff *skb, __u64 netns, __u32 out)
{
	struct dev_key k = {.netns = netns, .in = skb->ifindex, .out = out};
	struct dev_stats *s = bpf_map_lookup_elem(&stats, &k);
	if (s) {
		s->packets++;
		s->bytes += skb->len;
		return;
	}
	struct dev_stats n = {.packets = 1, .bytes = skb->len};
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
// and where it goes, until expires (bpf_ktime_get_coarse_ns).
struct flow_key {
	__u64 netns;
	__be32 saddr, daddr;
	__be16 sport, dport;
	__u32 pad;
};

struct flow_val {
	__be32 saddr, daddr;
	__be16 sport, dport;
	__u32 ifindex;
	__u8 smac[ETH_ALEN], dmac[ETH_ALEN];
	__u64 expires;
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

// lookup asks conntrack what the segment of flow k becomes and the route
// where it goes, fills f and caches it; false: the segment takes the
// ordinary path.
static __always_inline int lookup(struct __sk_buff *skb, struct iphdr *ip, struct flow_key *k, struct flow_val *f, __u64 now)
{
	struct bpf_sock_tuple t = {};
	t.ipv4.saddr = k->saddr;
	t.ipv4.daddr = k->daddr;
	t.ipv4.sport = k->sport;
	t.ipv4.dport = k->dport;
	__u8 tos = ip->tos;

	struct bpf_ct_opts opts = {.netns_id = -1, .l4proto = IPPROTO_TCP};
	struct nf_conn *ct = bpf_skb_ct_lookup(skb, &t, sizeof(t.ipv4), &opts, sizeof(opts));
	if (!ct)
		return 0;
	unsigned long status = ct->status;
	int ok = (status & (IPS_SRC_NAT | IPS_DST_NAT)) && (status & IPS_ASSURED) &&
		 (status & IPS_CONFIRMED) && !(status & IPS_DYING) &&
		 ct->proto.tcp.state == TCP_CONNTRACK_ESTABLISHED;
	// Which way the segment goes: the other direction's tuple, read
	// backwards, is what the segment becomes.
	int reply = !(ct->tuplehash[0].tuple.src.u3.ip == t.ipv4.saddr &&
		      ct->tuplehash[0].tuple.src.u.all == t.ipv4.sport &&
		      ct->tuplehash[0].tuple.dst.u3.ip == t.ipv4.daddr &&
		      ct->tuplehash[0].tuple.dst.u.all == t.ipv4.dport);
	struct nf_conntrack_tuple *o = reply ? &ct->tuplehash[0].tuple : &ct->tuplehash[1].tuple;
	__be32 saddr = o->dst.u3.ip, daddr = o->src.u3.ip;
	__be16 sport = o->dst.u.all, dport = o->src.u.all;
	if (ok && (__s32)(ct->timeout - (__u32)bpf_jiffies64()) < (__s32)RENEW_JIFFIES)
		bpf_ct_change_timeout(ct, TCP_ESTABLISHED_TIMEOUT_MS);
	bpf_ct_release(ct);
	if (!ok)
		return 0;

	struct bpf_fib_lookup fib = {
		.family = 2, // AF_INET
		.tos = tos,
		.l4_protocol = IPPROTO_TCP,
		.sport = sport,
		.dport = dport,
		.ifindex = skb->ifindex,
		.ipv4_src = saddr,
		.ipv4_dst = daddr,
	};
	// tot_len left 0: the helper then checks the skb against the
	// output device's MTU as forwarding would, GSO included.
	if (bpf_fib_lookup(skb, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return 0;
	f->saddr = saddr;
	f->daddr = daddr;
	f->sport = sport;
	f->dport = dport;
	f->ifindex = fib.ifindex;
	__builtin_memcpy(f->smac, fib.smac, ETH_ALEN);
	__builtin_memcpy(f->dmac, fib.dmac, ETH_ALEN);
	f->expires = now + FLOW_TTL_NS;
	bpf_map_update_elem(&flows, k, f, BPF_ANY);
	return 1;
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
	if (tcp->syn || tcp->fin || tcp->rst) {
		bpf_map_delete_elem(&flows, &fk);
		return TC_ACT_OK;
	}
	__u16 ttlproto = *(__u16 *)&ip->ttl;
	__u64 now = bpf_ktime_get_coarse_ns();
	struct flow_val *fv = bpf_map_lookup_elem(&flows, &fk);
	struct flow_val f = {};
	if (fv && now < fv->expires)
		f = *fv;
	else if (!lookup(skb, ip, &fk, &f, now))
		return TC_ACT_OK;

	count(skb, fk.netns, f.ifindex);

	// The TCP checksum through the helper, which knows whether the
	// kernel or the device completes it (CHECKSUM_PARTIAL: the field then
	// holds the pseudo header's sum, so only the addresses go in, not the
	// ports).
	if (fk.saddr != f.saddr)
		bpf_l4_csum_replace(skb, TCP_CSUM_OFF, fk.saddr, f.saddr, BPF_F_PSEUDO_HDR | 4);
	if (fk.daddr != f.daddr)
		bpf_l4_csum_replace(skb, TCP_CSUM_OFF, fk.daddr, f.daddr, BPF_F_PSEUDO_HDR | 4);
	if (fk.sport != f.sport)
		bpf_l4_csum_replace(skb, TCP_CSUM_OFF, fk.sport, f.sport, 2);
	if (fk.dport != f.dport)
		bpf_l4_csum_replace(skb, TCP_CSUM_OFF, fk.dport, f.dport, 2);

	// The rest in place (the helpers moved the data: look again).
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	eth = data;
	ip = (void *)(eth + 1);
	tcp = (void *)(ip + 1);
	if ((void *)(tcp + 1) > end)
		return TC_ACT_SHOT;
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
	__builtin_memcpy(eth->h_dest, f.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, f.smac, ETH_ALEN);
	return bpf_redirect_peer(f.ifindex, 0);
}
