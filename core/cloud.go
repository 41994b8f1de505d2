package core

import (
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/store"
)

// Options configure a Cloud.
type Options struct {
	// Regions served; empty means DefaultRegions().
	Regions []Region
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of IDs and secrets; nil means crypto/rand.
	Rand   io.Reader
	Logger *slog.Logger
	// Catalog is the AWS service catalog; nil means DefaultCatalog().
	Catalog *Catalog
}

// Cloud is the control plane. It is safe for concurrent use; all state lives
// in the store.
type Cloud struct {
	st      store.Store
	log     *slog.Logger
	now     func() time.Time
	rand    io.Reader
	regions map[string]Region
	order   []string // region names in the order given
	catalog *Catalog
}

// New returns a Cloud over st.
func New(st store.Store, opts Options) *Cloud {
	c := &Cloud{st: st, log: opts.Logger, now: opts.Now, rand: opts.Rand, regions: map[string]Region{}, catalog: opts.Catalog}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Reader
	}
	regions := opts.Regions
	if len(regions) == 0 {
		regions = DefaultRegions()
	}
	for _, r := range regions {
		c.regions[r.Name] = r
		c.order = append(c.order, r.Name)
	}
	return c
}

// Store returns the store the cloud keeps its state in.
func (c *Cloud) Store() store.Store { return c.st }

// Caller is who makes a request, and where.
type Caller struct {
	Account string // 12-digit account id
	ARN     string // the principal, e.g. arn:aws:iam::123456789012:root
	Region  string
	// DryRun makes a mutating call validate everything and then roll back,
	// answering DryRunOperation.
	DryRun bool
}

var errDryRun = errors.New("dry run")

// update runs fn in one store transaction scoped to the caller's region. A
// DryRun caller's transaction is always rolled back; if fn succeeded the
// answer is DryRunOperation.
func (c *Cloud) update(who Caller, fn func(tx *Tx) error) error {
	if _, ok := c.regions[who.Region]; !ok {
		return unknownRegion(who.Region)
	}
	_, err := c.st.Update(func(stx store.Tx) error {
		tx := &Tx{Tx: stx, c: c, who: who}
		if err := fn(tx); err != nil {
			return err
		}
		if who.DryRun {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		return awserr.DryRunOperation()
	}
	return err
}

// view runs fn in a read-only transaction scoped to the caller's region. A
// DryRun read answers DryRunOperation once fn has validated the request.
func (c *Cloud) view(who Caller, fn func(tx *Tx) error) error {
	if _, ok := c.regions[who.Region]; !ok {
		return unknownRegion(who.Region)
	}
	err := c.st.View(func(stx store.Tx) error {
		return fn(&Tx{Tx: stx, c: c, who: who})
	})
	if err == nil && who.DryRun {
		return awserr.DryRunOperation()
	}
	return err
}

func unknownRegion(name string) error {
	return awserr.WithStatus(401, "AuthFailure", "The region '%s' is not served by this endpoint.", name)
}

// Now returns the cloud's clock reading, truncated to milliseconds as AWS
// reports times.
func (c *Cloud) Now() time.Time { return c.now().UTC().Truncate(time.Millisecond) }
