//go:build linux

package benchnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Iperf3Result is what the benchmark takes from `iperf3 -c … -J`.
type Iperf3Result struct {
	Streams     int
	SentBps     float64 // bits per second the client sent
	ReceivedBps float64 // bits per second the server received: the figure reported
	Retransmits int
}

// ParseIperf3 reads the JSON report of an iperf3 client (`-J`, iperf3 3.x).
// A report carrying an "error" (the server busy or unreachable) is an
// error, as is one without a receiver sum.
func ParseIperf3(b []byte) (Iperf3Result, error) {
	type sum struct {
		BitsPerSecond *float64 `json:"bits_per_second"`
		Retransmits   int      `json:"retransmits"`
	}
	var doc struct {
		Start struct {
			TestStart struct {
				NumStreams int `json:"num_streams"`
			} `json:"test_start"`
		} `json:"start"`
		End struct {
			SumSent     *sum `json:"sum_sent"`
			SumReceived *sum `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return Iperf3Result{}, fmt.Errorf("iperf3 report: %w", err)
	}
	if doc.Error != "" {
		return Iperf3Result{}, fmt.Errorf("iperf3: %s", doc.Error)
	}
	if doc.End.SumReceived == nil || doc.End.SumReceived.BitsPerSecond == nil || doc.End.SumSent == nil || doc.End.SumSent.BitsPerSecond == nil {
		return Iperf3Result{}, errors.New("iperf3 report: no end.sum_sent/sum_received")
	}
	return Iperf3Result{
		Streams:     doc.Start.TestStart.NumStreams,
		SentBps:     *doc.End.SumSent.BitsPerSecond,
		ReceivedBps: *doc.End.SumReceived.BitsPerSecond,
		Retransmits: doc.End.SumSent.Retransmits,
	}, nil
}

// IperfBlock is the size of each write and read of iperf3 (its -l): its
// largest, 1 MiB. With its default of 128 KiB, one iperf3 stream stays at
// ~25 Gbit/s on every fast path here (the system calls are the limit),
// so the figures would measure iperf3 rather than the path.
const IperfBlock = "1M"

// Iperf3Args are the arguments of an iperf3 client run: streams parallel
// streams for secs seconds after omitting the first omit seconds (TCP
// slow start), writes of IperfBlock, JSON output.
func Iperf3Args(addr netip.AddrPort, streams, secs, omit int) []string {
	args := []string{"-c", addr.Addr().String(), "-p", strconv.Itoa(int(addr.Port())),
		"-t", strconv.Itoa(secs), "-P", strconv.Itoa(streams), "-l", IperfBlock, "-J", "--connect-timeout", "3000"}
	if omit > 0 {
		args = append(args, "-O", strconv.Itoa(omit))
	}
	return args
}

// Iperf3 runs an iperf3 client in namespace ns against an `iperf3 -s` at
// addr. A server still busy with the previous test is given two more
// tries, a second apart.
func Iperf3(ctx context.Context, tools *Tools, ns string, addr netip.AddrPort, streams, secs, omit int) (Iperf3Result, error) {
	for try := 0; ; try++ {
		tctx, cancel := context.WithTimeout(ctx, time.Duration(secs+omit+20)*time.Second)
		out, err := tools.Output(tctx, ns, tools.Iperf3, Iperf3Args(addr, streams, secs, omit)...)
		cancel()
		res, perr := ParseIperf3(out)
		if perr == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if try < 2 && strings.Contains(perr.Error(), "busy") {
			time.Sleep(time.Second)
			continue
		}
		if err != nil && len(out) == 0 {
			return res, err
		}
		return res, perr
	}
}
