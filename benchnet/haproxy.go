//go:build linux

package benchnet

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// HAProxyConfig is the configuration of the haproxy path: HAProxy in TCP
// mode, one frontend per port on listen forwarding to the same port on
// server. Otherwise HAProxy's defaults (threads: one per CPU), plus
// splicing, which a TCP proxy in production would enable.
func HAProxyConfig(listen, server netip.Addr, ports []uint16) string {
	var b strings.Builder
	b.WriteString(`# isthmus-bench: HAProxy in TCP mode between the client and the server.
global
    maxconn 4000

defaults
    mode tcp
    maxconn 4000
    option splice-auto
    timeout connect 5s
    timeout client 1m
    timeout server 1m
`)
	for _, p := range ports {
		fmt.Fprintf(&b, "\nfrontend in%d\n    bind %s\n    default_backend out%d\n", p, netip.AddrPortFrom(listen, p), p)
		fmt.Fprintf(&b, "\nbackend out%d\n    server s1 %s\n", p, netip.AddrPortFrom(server, p))
	}
	return b.String()
}

// StartHAProxy writes config into dir and runs `haproxy -db -f` (in the
// foreground) inside namespace ns until every port listens.
func StartHAProxy(tools *Tools, ns, dir, config string, ports []uint16) (*Proc, error) {
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		return nil, err
	}
	p, err := tools.Start(ns, tools.HAProxy, "-db", "-f", path)
	if err != nil {
		return nil, err
	}
	for _, port := range ports {
		if err := WaitListening(ns, port, p, 10*time.Second); err != nil {
			p.Stop()
			return nil, fmt.Errorf("haproxy: %w", err)
		}
	}
	return p, nil
}

// StartIperf3Server runs `iperf3 -s -p port` inside namespace ns until it
// listens.
func StartIperf3Server(tools *Tools, ns string, port uint16) (*Proc, error) {
	p, err := tools.Start(ns, tools.Iperf3, "-s", "-p", fmt.Sprint(port))
	if err != nil {
		return nil, err
	}
	if err := WaitListening(ns, port, p, 10*time.Second); err != nil {
		p.Stop()
		return nil, fmt.Errorf("iperf3 -s: %w", err)
	}
	return p, nil
}
