package dataplane

import "sort"

// Op is one change to the kernel: ensure Item exists as given, or remove
// it. Owner is the API object the change is charged to.
type Op struct {
	Remove bool
	Item   Item
	Owner  string
}

func (o Op) String() string {
	if o.Remove {
		return "- " + o.Item.String()
	}
	return "+ " + o.Item.String()
}

// Matches reports whether the kernel item have satisfies the desired item
// want (same Key assumed): equal, except that fields want leaves to the
// kernel (an empty MAC) match anything.
func Matches(want, have Item) bool {
	switch w := want.(type) {
	case Link:
		h, ok := have.(Link)
		if !ok {
			return false
		}
		if w.MAC == "" {
			h.MAC = ""
		}
		return w == h
	case Veth:
		h, ok := have.(Veth)
		if !ok {
			return false
		}
		if w.MAC == "" {
			h.MAC = ""
		}
		return w == h
	}
	return want == have
}

// replaces reports whether turning have into want needs a delete and a
// create rather than a change in place: a link of another kind, a veth
// whose other end is elsewhere.
func replaces(want, have Item) bool {
	switch w := want.(type) {
	case Link:
		h, ok := have.(Link)
		return !ok || h.Kind != w.Kind
	case Veth:
		h, ok := have.(Veth)
		return !ok || h.PeerNS != w.PeerNS || h.PeerName != w.PeerName
	case NftChain:
		h, ok := have.(NftChain)
		return !ok || h.Hook != w.Hook
	case Transit:
		h, ok := have.(Transit)
		return !ok || h.PeerNS != w.PeerNS || h.PeerName != w.PeerName
	case NatChain:
		h, ok := have.(NatChain)
		return !ok || h.Hook != w.Hook
	}
	return false
}

// Diff returns the operations that turn have into want, in the order to
// run them: removals first, in reverse creation order, then creations and
// changes in creation order. Items that match are not touched. Items that
// go away with a namespace, nftables table, chain or set being removed are
// not removed one by one — except transit links, whose removal also ends
// the flows they carried in the namespace that stays.
func Diff(have, want *HostConfig) []Op {
	var removes, ensures []Op
	goneNS := map[string]bool{}
	gone := map[string]bool{} // keys of items removed (or replaced)
	for k, h := range have.Items {
		w, keep := want.Items[k]
		if !keep || (!Matches(w, h) && replaces(w, h)) {
			gone[k] = true
			if n, ok := h.(Netns); ok && !keep {
				goneNS[n.Name] = true
			}
		}
	}
	for k, h := range have.Items {
		if !gone[k] {
			continue
		}
		_, isNS := h.(Netns)
		_, isTransit := h.(Transit)
		if !isNS && !isTransit && (goneNS[h.Namespace()] || vethPeerGone(h, goneNS)) {
			continue
		}
		if containerGone(h, gone) {
			continue
		}
		removes = append(removes, Op{Remove: true, Item: h, Owner: ownerOf(have, want, k)})
	}
	for k, w := range want.Items {
		// What matches stays, unless what holds it is replaced.
		if h, ok := have.Items[k]; ok && Matches(w, h) && !containerGone(w, gone) {
			continue
		}
		ensures = append(ensures, Op{Item: w, Owner: want.Owners[k]})
	}
	sort.Slice(removes, func(i, j int) bool { return itemLess(removes[j].Item, removes[i].Item) })
	sort.Slice(ensures, func(i, j int) bool { return itemLess(ensures[i].Item, ensures[j].Item) })
	return append(removes, ensures...)
}

func containerGone(it Item, gone map[string]bool) bool {
	for _, c := range containers(it) {
		if gone[c] {
			return true
		}
	}
	return false
}

func vethPeerGone(it Item, goneNS map[string]bool) bool {
	v, ok := it.(Veth)
	return ok && goneNS[v.PeerNS]
}

func ownerOf(have, want *HostConfig, key string) string {
	if o := want.Owners[key]; o != "" {
		return o
	}
	return have.Owners[key]
}

// apply records in c the effect a successful op has on the kernel,
// including what the kernel does on its own: removing a namespace removes
// everything in it and every veth pair with an end in it; removing a link
// removes its addresses and routes and releases the ports of a bridge; a
// new namespace starts with lo down.
func (c *HostConfig) apply(op Op) {
	k := op.Item.Key()
	if !op.Remove {
		if n, ok := op.Item.(Netns); ok {
			if _, had := c.Items[k]; !had {
				lo := Link{NS: n.Name, Name: "lo", Kind: KindLoopback}
				c.Add(op.Owner, lo)
			}
		}
		if old, ok := c.Items[k]; ok && replaces(op.Item, old) {
			c.remove(old)
		}
		c.Add(op.Owner, op.Item)
		return
	}
	c.remove(op.Item)
}

func (c *HostConfig) remove(it Item) {
	k := it.Key()
	if _, ok := c.Items[k]; !ok {
		return
	}
	delete(c.Items, k)
	delete(c.Owners, k)
	switch x := it.(type) {
	case Netns:
		for key, other := range c.Items {
			if other.Namespace() == x.Name {
				delete(c.Items, key)
				delete(c.Owners, key)
			}
		}
		// A veth pair (a transit link too) dies with either end.
		for _, other := range c.Items {
			if v, ok := other.(Veth); ok && v.PeerNS == x.Name {
				c.remove(v)
			}
			if t, ok := other.(Transit); ok && t.PeerNS == x.Name {
				c.remove(t)
			}
		}
	case Link:
		c.dropOnDev(x.NS, x.Name)
		for key, other := range c.Items {
			if v, ok := other.(Veth); ok && v.PeerNS == x.NS && v.PeerMaster == x.Name {
				v.PeerMaster = ""
				c.Items[key] = v
			}
		}
	case Veth:
		c.dropOnDev(x.NS, x.Name)
		c.dropOnDev(x.PeerNS, x.PeerName)
	case NftTable, NftChain, NftSet, NatTable:
		for key, other := range c.Items {
			for _, ck := range containers(other) {
				if ck == k {
					delete(c.Items, key)
					delete(c.Owners, key)
				}
			}
		}
	}
}

// dropOnDev removes the addresses and routes on a link that went away.
func (c *HostConfig) dropOnDev(ns, dev string) {
	for key, other := range c.Items {
		switch o := other.(type) {
		case Addr:
			if o.NS == ns && o.Dev == dev {
				delete(c.Items, key)
				delete(c.Owners, key)
			}
		case Route:
			if o.NS == ns && o.Dev == dev {
				delete(c.Items, key)
				delete(c.Owners, key)
			}
		}
	}
}
