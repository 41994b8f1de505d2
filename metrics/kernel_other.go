//go:build !linux

package metrics

import (
	"context"
	"errors"

	"github.com/isthmusnet/isthmus/fastpath"
)

// FromKernel needs Linux; elsewhere its Source always fails.
func FromKernel(prefix string, top Topologist, fast *fastpath.Programs) Source {
	return SourceFunc(func(context.Context) (*Snapshot, error) {
		return nil, errors.New("metrics: the kernel data plane needs Linux")
	})
}
