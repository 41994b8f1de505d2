package dataplane

import (
	"net/netip"
	"path/filepath"
	"strings"
)

// EtcNetnsDir is where per-namespace configuration files live, as
// iproute2 has them: `ip netns exec NAME` (and `isthmus exec`) bind-mounts
// every file of <EtcNetnsDir>/NAME/ over its namesake in /etc.
const EtcNetnsDir = "/etc/netns"

// ResolvConf is the resolv.conf of a namespace, <EtcNetnsDir>/<NS>/resolv.conf:
// the VPC resolver as its only nameserver and the region's internal domain
// to search. It goes away with its namespace (LinuxKernel removes the
// directory when it removes the namespace).
type ResolvConf struct {
	NS         string
	Nameserver netip.Addr
	Search     string
}

func (r ResolvConf) Key() string       { return "file " + r.NS + " resolv.conf" }
func (r ResolvConf) Namespace() string { return r.NS }
func (ResolvConf) phase() int          { return phaseFile }
func (r ResolvConf) String() string {
	dir := filepath.Join(EtcNetnsDir, r.NS)
	return "mkdir -p " + dir + " && printf '" + strings.ReplaceAll(r.content(), "\n", `\n`) + "' > " + filepath.Join(dir, "resolv.conf")
}

// content is the file's text.
func (r ResolvConf) content() string {
	var b strings.Builder
	b.WriteString("nameserver " + r.Nameserver.String() + "\n")
	if r.Search != "" {
		b.WriteString("search " + r.Search + "\n")
	}
	return b.String()
}

// parseResolvConf reads back what content writes; ok is false for
// anything else (which then differs from the plan and is rewritten).
func parseResolvConf(ns, text string) (ResolvConf, bool) {
	r := ResolvConf{NS: ns}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0 || strings.HasPrefix(f[0], "#"):
		case f[0] == "nameserver" && len(f) == 2 && !r.Nameserver.IsValid():
			a, err := netip.ParseAddr(f[1])
			if err != nil {
				return r, false
			}
			r.Nameserver = a
		case f[0] == "search" && len(f) == 2 && r.Search == "":
			r.Search = f[1]
		default:
			return r, false
		}
	}
	return r, r.Nameserver.IsValid() && r.content() == text
}

// SearchDomain is the domain EC2 gives interfaces of a region: ec2.internal
// in us-east-1, <region>.compute.internal elsewhere.
func SearchDomain(region string) string {
	switch region {
	case "":
		return ""
	case "us-east-1":
		return "ec2.internal"
	}
	return region + ".compute.internal"
}
