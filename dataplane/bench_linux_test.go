package dataplane

import (
	"fmt"
	"testing"

	"github.com/isthmusnet/isthmus/netns"
)

// BenchmarkBringUp measures bringing up n interfaces in a VPC and subnet
// that already exist: plan, diff and every kernel operation (namespace,
// sysctls, lo, veth, bridge port, address, route) — what one burst of
// CreateNetworkInterface calls costs the data plane. ns/eni should be the
// same for 1 and 200: the work per interface must not grow with the count.
//
//	go test -run '^$' -bench BringUp ./dataplane/   (as root)
func BenchmarkBringUp(b *testing.B) {
	for _, n := range []int{1, 200} {
		b.Run(fmt.Sprintf("enis=%d", n), func(b *testing.B) {
			k, prefix := privileged(b)
			var base topo
			base.vpc(vpcA, "10.0.0.0/16")
			base.subnet(subA, vpcA, "10.0.0.0/22")
			full := base
			for i := 0; i < n; i++ {
				id := fmt.Sprintf("eni-%012x00000", i+1)
				ip := fmt.Sprintf("10.0.%d.%d", 1+(i+4)/256, (i+4)%256)
				full.eni(id, subA, vpcA, ip, "")
			}
			a := NewApplier(k, prefix)
			vpcOnly := Plan(&base.Topology, PlanOptions{Prefix: prefix})
			if res := a.Apply(vpcOnly, nil); len(res.Failed) > 0 {
				b.Fatal(res.Failed)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				want := Plan(&full.Topology, PlanOptions{Prefix: prefix})
				res := a.Apply(want, nil)
				if len(res.Failed) > 0 || len(want.Problems) > 0 {
					b.Fatal(res.Failed, want.ProblemsText())
				}
				if res.Ops < 7*n {
					b.Fatalf("%d operations for %d interfaces", res.Ops, n)
				}
				b.StopTimer()
				if res := a.Apply(vpcOnly, nil); len(res.Failed) > 0 {
					b.Fatal(res.Failed)
				}
				if names, _ := netns.List(prefix + "-"); len(names) != 1 {
					b.Fatalf("%d namespaces after tearing down", len(names))
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/eni")
		})
	}
}
