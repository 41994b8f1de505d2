package dataplane

import (
	"errors"
	"fmt"
	"strings"
)

// Applier moves a Kernel to desired configurations, touching only what
// differs, and remembers what the kernel holds between calls. It is the
// level-based core of the Reconciler, usable on its own (one goroutine at
// a time).
type Applier struct {
	k      Kernel
	prefix string
	have   *HostConfig
}

// NewApplier returns an Applier for the namespaces of prefix that believes
// the kernel holds nothing of them; call Observe to learn otherwise.
func NewApplier(k Kernel, prefix string) *Applier {
	return &Applier{k: k, prefix: prefix, have: NewHostConfig()}
}

// Observe reads what the kernel holds under the prefix and makes it what
// the Applier believes, charging each item to the object its namespace is
// named after. It returns how many items differed from what the Applier
// believed before (drift).
func (a *Applier) Observe() (drift int, err error) {
	seen, err := a.k.Observe(a.prefix)
	if err != nil {
		return 0, err
	}
	for k, it := range seen.Items {
		if id, ok := ObjectOfNamespace(a.prefix, it.Namespace()); ok {
			seen.Owners[k] = id
		}
		if o := a.have.Owners[k]; o != "" {
			seen.Owners[k] = o
		}
		if old, ok := a.have.Items[k]; !ok || !Matches(old, it) {
			drift++
		}
	}
	for k := range a.have.Items {
		if _, ok := seen.Items[k]; !ok {
			drift++
		}
	}
	a.have = seen
	return drift, nil
}

// Have returns what the Applier believes the kernel holds.
func (a *Applier) Have() *HostConfig { return a.have.Clone() }

// Result is what one Apply did.
type Result struct {
	// Ops is the number of kernel operations done (successful or not).
	Ops int
	// Failed holds, per object, the first operation that failed.
	Failed map[string]error
	// Pending counts, per object, the operations not done: failed, held
	// back, or after a failure of the same object.
	Pending map[string]int
}

// Apply runs the operations that turn what the kernel holds into want.
// Operations of an object for which hold returns true are skipped (it is
// waiting to be retried); after one operation of an object fails, the
// object's later operations are skipped too, since they usually depend on
// it. Other objects go on regardless.
func (a *Applier) Apply(want *HostConfig, hold func(owner string) bool) Result {
	res := Result{Failed: map[string]error{}, Pending: map[string]int{}}
	for _, op := range Diff(a.have, want) {
		if res.Failed[op.Owner] != nil || (hold != nil && hold(op.Owner)) {
			res.Pending[op.Owner]++
			continue
		}
		res.Ops++
		var err error
		if op.Remove {
			err = a.k.Remove(op.Item)
		} else {
			err = a.k.Ensure(op.Item)
		}
		if err != nil {
			res.Failed[op.Owner] = fmt.Errorf("%s: %w", firstLine(op.String()), err)
			res.Pending[op.Owner]++
			continue
		}
		a.have.apply(op)
	}
	return res
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// Teardown removes everything of prefix from the kernel: every namespace
// named "<prefix>-…", with its links, and its files in EtcNetnsDir. It is for tests and for uninstalling;
// the Reconciler never calls it (a stopping daemon leaves the data plane
// running, and its successor takes over without disturbing traffic).
func Teardown(k Kernel, prefix string) error {
	if err := CheckPrefix(prefix); err != nil {
		return err
	}
	seen, err := k.Observe(prefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, it := range seen.Sorted() {
		switch it.(type) {
		case Netns, ResolvConf: // a namespace takes everything in it along
			if err := k.Remove(it); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
