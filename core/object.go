package core

import (
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/isthmusnet/isthmus/awserr"
)

// Meta is what every stored object has: identity, owner, place, tags.
type Meta struct {
	ID      string    `json:"id"`
	Owner   string    `json:"owner"`
	Region  string    `json:"region"`
	VpcID   string    `json:"vpcId,omitempty"` // for objects inside a VPC
	Tags    []Tag     `json:"tags,omitempty"`
	Created time.Time `json:"created"`
}

func (m *Meta) meta() *Meta { return m }

// Object is a stored, owned, taggable object.
type Object interface {
	meta() *Meta
	// filter returns the object's values for a Describe filter name, and
	// whether the name is a filter of this kind at all. ok must depend on
	// name only, so that unknown names are refused even when nothing
	// matches.
	filter(name string) (values []string, ok bool)
}

// Tag is a key and value attached to an object.
type Tag struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

// kind describes one type of object: where it is stored, what its IDs look
// like, and how AWS names its errors.
type kind struct {
	name         string // store key segment
	idPrefix     string // "vpc" of vpc-0123...
	resourceType string // DescribeTags resource-type and TagSpecification ResourceType
	idNoun       string // "vpc ID" in "The vpc ID 'x' does not exist"
	notFoundCode string // "InvalidVpcID.NotFound"
	malformed    string // "InvalidVpcID.Malformed"
	decode       func(b []byte) (Object, error)
}

func (k *kind) notFound(id string) error {
	return awserr.New(k.notFoundCode, "The %s '%s' does not exist", k.idNoun, id)
}

// checkID refuses an ID that cannot be of this kind.
func (k *kind) checkID(id string) error {
	if !wellFormedID(k.idPrefix, id) {
		return awserr.New(k.malformed, "Invalid id: \"%s\" (expecting \"%s-...\")", id, k.idPrefix)
	}
	return nil
}

func wellFormedID(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"-")
	if !ok || len(rest) == 0 || len(rest) > 17 {
		return false
	}
	for _, c := range rest {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// kinds is every kind, by ID prefix.
var kinds = map[string]*kind{}

func register(k *kind) *kind {
	kinds[k.idPrefix] = k
	return k
}

// kindOfID returns the kind an ID belongs to.
func kindOfID(id string) (*kind, bool) {
	i := strings.LastIndexByte(id, '-')
	if i < 0 {
		return nil, false
	}
	k, ok := kinds[id[:i]]
	return k, ok
}

// newID returns prefix-<17 hex>, as AWS's long IDs are.
func newID(r io.Reader, prefix string) string {
	var b [9]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		panic(fmt.Sprintf("core: random source failed: %v", err))
	}
	return prefix + "-" + hex.EncodeToString(b[:])[:17]
}

func (tx *Tx) newID(prefix string) string { return newID(tx.c.rand, prefix) }

// newMeta returns the Meta of a new object of kind k owned by the caller.
func (tx *Tx) newMeta(k *kind, vpcID string) Meta {
	return Meta{ID: tx.newID(k.idPrefix), Owner: tx.who.Account, Region: tx.who.Region, VpcID: vpcID, Created: tx.c.Now()}
}

// load returns the caller's object of kind k with id. A malformed ID, or one
// that does not exist or belongs to another account, answers the kind's
// errors.
func load[T any, PT interface {
	*T
	Object
}](tx *Tx, k *kind, id string) (PT, error) {
	if err := k.checkID(id); err != nil {
		return nil, err
	}
	v, ok, err := getJSON[T](tx, objectKey(tx.who.Region, k, id))
	if err != nil {
		return nil, err
	}
	if !ok || PT(v).meta().Owner != tx.who.Account {
		return nil, k.notFound(id)
	}
	return PT(v), nil
}

// loadAny is load for an object of any kind, owned by anyone: for internal
// lookups such as a route target or a referenced group.
func loadAny[T any, PT interface {
	*T
	Object
}](tx *Tx, k *kind, id string) (PT, bool, error) {
	v, ok, err := getJSON[T](tx, objectKey(tx.who.Region, k, id))
	return PT(v), ok, err
}

// save writes o under its kind.
func (tx *Tx) save(k *kind, o Object) error {
	m := o.meta()
	return putJSON(tx, objectKey(m.Region, k, m.ID), o)
}

// remove deletes o.
func (tx *Tx) remove(k *kind, o Object) error {
	m := o.meta()
	return tx.Delete(objectKey(m.Region, k, m.ID))
}

// list returns the caller's objects of kind k in ID order, keeping those
// for which keep (if not nil) returns true.
func list[T any, PT interface {
	*T
	Object
}](tx *Tx, k *kind, keep func(PT) bool) ([]PT, error) {
	var out []PT
	var derr error
	err := tx.Scan(kindPrefix(tx.who.Region, k), "", func(key string, b []byte) bool {
		v, err := decodeJSON[T](b)
		if err != nil {
			derr = fmt.Errorf("decode %s: %w", key, err)
			return false
		}
		p := PT(v)
		if p.meta().Owner != tx.who.Account {
			return true
		}
		if keep == nil || keep(p) {
			out = append(out, p)
		}
		return true
	})
	if err == nil {
		err = derr
	}
	return out, err
}

// listAll is list across every owner: for the core's own invariants.
func listAll[T any, PT interface {
	*T
	Object
}](tx *Tx, k *kind, keep func(PT) bool) ([]PT, error) {
	var out []PT
	var derr error
	err := tx.Scan(kindPrefix(tx.who.Region, k), "", func(key string, b []byte) bool {
		v, err := decodeJSON[T](b)
		if err != nil {
			derr = fmt.Errorf("decode %s: %w", key, err)
			return false
		}
		if p := PT(v); keep == nil || keep(p) {
			out = append(out, p)
		}
		return true
	})
	if err == nil {
		err = derr
	}
	return out, err
}

// describe is the common shape of every Describe call: the objects named by
// ids (each must exist, else the kind's NotFound), or all of them, then
// filtered.
func describe[T any, PT interface {
	*T
	Object
}](tx *Tx, k *kind, ids []string, filters []Filter) ([]PT, error) {
	if err := checkFilters(PT(new(T)), filters); err != nil {
		return nil, err
	}
	var objs []PT
	if len(ids) > 0 {
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			o, err := load[T, PT](tx, k, id)
			if err != nil {
				return nil, err
			}
			objs = append(objs, o)
		}
		sort.Slice(objs, func(i, j int) bool { return objs[i].meta().ID < objs[j].meta().ID })
	} else {
		var err error
		if objs, err = list[T, PT](tx, k, nil); err != nil {
			return nil, err
		}
	}
	out := objs[:0]
	for _, o := range objs {
		if matchFilters(o, filters) {
			out = append(out, o)
		}
	}
	return out, nil
}
