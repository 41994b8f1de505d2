//go:build linux

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/isthmusnet/isthmus/benchnet"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("isthmus-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		quick   = fs.Bool("quick", false, "a smoke run: one round of one-second runs")
		write   = fs.String("write", "", "replace the isthmus-bench section of this markdown file (appended if absent)")
		rounds  = fs.Int("rounds", 0, "rounds of runs, the paths alternating (default 5, 1 with -quick)")
		dur     = fs.Duration("time", 0, "length of each throughput and connection-rate run (default 3s, 1s with -quick)")
		rr      = fs.Int("rr", 0, "request/response exchanges per latency run (default 20000, 2000 with -quick)")
		workers = fs.Int("workers", 0, "parallel workers of the connection-rate test (default 8)")
		paths   = fs.String("paths", strings.Join(benchnet.AllPaths, ","), "paths to measure")
		verbose = fs.Bool("v", false, "print the Isthmus API calls and Isthmus's logs")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./cmd/isthmus-bench [-quick] [-write docs/benchmarks.md] [flags]\n\n"+
			"Measures the paths %s side by side, as root. Flags:\n", strings.Join(benchnet.AllPaths, ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	for _, p := range splitList(*paths) {
		if !slices.Contains(benchnet.AllPaths, p) {
			fmt.Fprintf(stderr, "isthmus-bench: unknown path %q (paths: %s)\n", p, strings.Join(benchnet.AllPaths, ", "))
			return 2
		}
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "isthmus-bench: needs root (it creates network namespaces, links and processes in them): run it as root")
		return 1
	}
	tools, err := benchnet.FindTools()
	if err != nil {
		fmt.Fprintln(stderr, "isthmus-bench:", err)
		return 1
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	cfg := benchnet.Config{
		Quick: *quick, Rounds: *rounds, Duration: *dur, RRCount: *rr, Workers: *workers,
		Paths: splitList(*paths), Tools: tools, Progress: stderr, Logger: logger,
		Command: strings.Join(append([]string{"go run ./cmd/isthmus-bench"}, args...), " "),
	}

	// The first signal stops the run; cleaning up always finishes (later
	// signals are only acknowledged).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		fmt.Fprintf(stderr, "isthmus-bench: %s: stopping; removing the namespaces\n", s)
		cancel()
		for range sigs {
			fmt.Fprintln(stderr, "isthmus-bench: still cleaning up")
		}
	}()

	start := time.Now()
	res, err := benchnet.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "isthmus-bench:", err)
		if errors.Is(err, context.Canceled) {
			return 130
		}
		return 1
	}
	if *verbose && len(res.Setup) > 0 {
		fmt.Fprintln(stderr, "Isthmus API calls that built the vpc, endpoint and ppv2 paths:")
		for _, s := range res.Setup {
			fmt.Fprintln(stderr, "  "+s)
		}
	}
	md := res.Markdown()
	fmt.Fprintln(stdout, md)
	for _, c := range res.Targets() {
		fmt.Fprintf(stdout, "%-4s %s: %s\n", c.Status, c.Target, c.Measured)
	}
	fmt.Fprintf(stderr, "isthmus-bench: done in %s\n", time.Since(start).Round(time.Second))
	if *write != "" {
		if err := benchnet.WriteMarked(*write, md); err != nil {
			fmt.Fprintln(stderr, "isthmus-bench:", err)
			return 1
		}
		fmt.Fprintf(stderr, "isthmus-bench: wrote %s\n", *write)
	}
	return 0
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, f)
	}
	return out
}
