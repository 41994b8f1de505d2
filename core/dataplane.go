package core

// Reads and writes for the data plane and the admin socket that have no
// AWS action: the topology's prefix-list entries, finding an object by id
// in any account and region, and the interfaces of `isthmus exec`.

// prefixListEntries returns the CIDRs of the prefix list id as the
// caller's region knows it (the AWS-managed lists of prefixlist.go), and
// whether it exists.
func (tx *Tx) prefixListEntries(id string) ([]string, bool) {
	p, ok := tx.awsPrefixList(id)
	if !ok {
		return nil, false
	}
	return append([]string(nil), p.CIDRs...), true
}

// locate finds the object of kind k with id in any region and account
// (ids are unique across them), or answers the kind's NotFound.
func locate[T any, PT interface {
	*T
	Object
}](c *Cloud, k *kind, id string) (PT, error) {
	if err := k.checkID(id); err != nil {
		return nil, err
	}
	for _, region := range c.order {
		var found PT
		err := c.view(Caller{Region: region}, func(tx *Tx) error {
			v, ok, err := loadAny[T, PT](tx, k, id)
			if ok {
				found = v
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if found != nil {
			return found, nil
		}
	}
	return nil, k.notFound(id)
}

// LocateNetworkInterface returns the network interface id of whichever
// account and region holds it: for the admin socket, which acts for the
// host's operator.
func (c *Cloud) LocateNetworkInterface(id string) (*NetworkInterface, error) {
	return locate[NetworkInterface](c, kindENI, id)
}

// LocateSubnet returns the subnet id of whichever account and region holds
// it; Owner and Region say whom to act as to use it.
func (c *Cloud) LocateSubnet(id string) (*Subnet, error) {
	return locate[Subnet](c, kindSubnet, id)
}
