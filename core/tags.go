package core

import (
	"sort"
	"strings"

	"github.com/isthmusnet/isthmus/awserr"
)

// TagSpec is one TagSpecification of a create call.
type TagSpec struct {
	ResourceType string
	Tags         []Tag
}

// Limits AWS puts on tags.
const (
	maxTags        = 50
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

func validateTags(tags []Tag) error {
	if len(tags) > maxTags {
		return awserr.New("TagLimitExceeded", "The maximum number of tags for a resource is %d", maxTags)
	}
	for _, t := range tags {
		switch {
		case t.Key == "":
			return awserr.InvalidParameterValue("Tag key cannot be empty")
		case len(t.Key) > maxTagKeyLen:
			return awserr.InvalidParameterValue("Tag key exceeds the maximum length of %d characters", maxTagKeyLen)
		case len(t.Value) > maxTagValueLen:
			return awserr.InvalidParameterValue("Tag value exceeds the maximum length of %d characters", maxTagValueLen)
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return awserr.InvalidParameterValue("Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	return nil
}

// specTags returns the tags the specs give to a new object of kind k. A spec
// for another resource type is refused, as EC2 does.
func specTags(k *kind, specs []TagSpec) ([]Tag, error) {
	var out []Tag
	for _, s := range specs {
		if s.ResourceType == "" {
			return nil, awserr.InvalidParameterValue("Tag specification resource type must have a value")
		}
		if s.ResourceType != k.resourceType {
			return nil, awserr.InvalidParameterValue("'%s' is not a valid taggable resource type for this operation.", s.ResourceType)
		}
		out = mergeTags(out, s.Tags)
	}
	return out, validateTags(out)
}

// mergeTags sets each of add on tags (replacing the value of an existing
// key) and returns the result sorted by key.
func mergeTags(tags, add []Tag) []Tag {
	m := make(map[string]string, len(tags)+len(add))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	for _, t := range add {
		m[t.Key] = t.Value
	}
	out := make([]Tag, 0, len(m))
	for k, v := range m {
		out = append(out, Tag{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	if len(out) == 0 {
		return nil
	}
	return out
}

// TagDelete names a tag to remove: a key, and optionally the value it must
// have (nil: any value).
type TagDelete struct {
	Key   string
	Value *string
}

// CreateTags adds or overwrites tags on each resource. Every resource must
// exist and be the caller's; otherwise nothing changes.
func (c *Cloud) CreateTags(who Caller, resources []string, tags []Tag) error {
	if len(resources) == 0 {
		return awserr.MissingParameter("ResourceId")
	}
	if len(tags) == 0 {
		return awserr.MissingParameter("Tag")
	}
	return c.update(who, func(tx *Tx) error {
		for _, id := range resources {
			k, o, err := tx.loadTaggable(id)
			if err != nil {
				return err
			}
			m := o.meta()
			m.Tags = mergeTags(m.Tags, tags)
			if err := validateTags(m.Tags); err != nil {
				return err
			}
			if err := tx.save(k, o); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteTags removes tags from each resource.
func (c *Cloud) DeleteTags(who Caller, resources []string, tags []TagDelete) error {
	if len(resources) == 0 {
		return awserr.MissingParameter("ResourceId")
	}
	return c.update(who, func(tx *Tx) error {
		for _, id := range resources {
			k, o, err := tx.loadTaggable(id)
			if err != nil {
				return err
			}
			m := o.meta()
			if len(tags) == 0 { // no Tag parameter: delete them all
				m.Tags = nil
			} else {
				kept := m.Tags[:0]
				for _, t := range m.Tags {
					if !deletes(tags, t) {
						kept = append(kept, t)
					}
				}
				m.Tags = kept
			}
			if err := tx.save(k, o); err != nil {
				return err
			}
		}
		return nil
	})
}

func deletes(ds []TagDelete, t Tag) bool {
	for _, d := range ds {
		if d.Key == t.Key && (d.Value == nil || *d.Value == t.Value) {
			return true
		}
	}
	return false
}

// TagDescription is one tag of one resource, as DescribeTags lists them.
type TagDescription struct {
	ResourceID   string
	ResourceType string
	Key, Value   string
}

// DescribeTags lists the caller's tags, filtered by key, value,
// resource-id and resource-type.
func (c *Cloud) DescribeTags(who Caller, filters []Filter, p Page) ([]TagDescription, string, error) {
	for _, f := range filters {
		switch f.Name {
		case "key", "value", "resource-id", "resource-type", "tag":
		default:
			if !strings.HasPrefix(f.Name, "tag:") {
				return nil, "", awserr.InvalidParameterValue("The filter '%s' is invalid", f.Name)
			}
		}
	}
	var out []TagDescription
	err := c.view(who, func(tx *Tx) error {
		for _, k := range sortedKinds() {
			err := tx.Scan(kindPrefix(who.Region, k), "", func(_ string, b []byte) bool {
				o, err := k.decode(b)
				if err != nil {
					return true
				}
				m := o.meta()
				if m.Owner != who.Account {
					return true
				}
				for _, t := range m.Tags {
					d := TagDescription{ResourceID: m.ID, ResourceType: k.resourceType, Key: t.Key, Value: t.Value}
					if matchTagFilters(d, m, filters) {
						out = append(out, d)
					}
				}
				return true
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ResourceID != out[j].ResourceID {
			return out[i].ResourceID < out[j].ResourceID
		}
		return out[i].Key < out[j].Key
	})
	return paginate(out, func(d TagDescription) string { return d.ResourceID + "\x00" + d.Key }, p, 5, 1000)
}

func matchTagFilters(d TagDescription, m *Meta, filters []Filter) bool {
	for _, f := range filters {
		var have []string
		switch f.Name {
		case "key":
			have = []string{d.Key}
		case "value":
			have = []string{d.Value}
		case "resource-id":
			have = []string{d.ResourceID}
		case "resource-type":
			have = []string{d.ResourceType}
		default:
			have, _ = tagFilter(m, f.Name)
		}
		if !matchAny(have, f.Values) {
			return false
		}
	}
	return true
}

func sortedKinds() []*kind {
	out := make([]*kind, 0, len(kinds))
	for _, k := range kinds {
		if k.resourceType != "" {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// loadTaggable loads the caller's object with id, of whatever kind.
func (tx *Tx) loadTaggable(id string) (*kind, Object, error) {
	k, ok := kindOfID(id)
	if !ok || k.resourceType == "" {
		return nil, nil, awserr.New("InvalidID", "The ID '%s' is not valid", id)
	}
	if err := k.checkID(id); err != nil {
		return nil, nil, err
	}
	b, ok := tx.Get(objectKey(tx.who.Region, k, id))
	if !ok {
		return nil, nil, k.notFound(id)
	}
	o, err := k.decode(b)
	if err != nil {
		return nil, nil, err
	}
	if o.meta().Owner != tx.who.Account {
		return nil, nil, k.notFound(id)
	}
	return k, o, nil
}
