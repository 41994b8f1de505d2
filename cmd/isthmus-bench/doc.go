// Command isthmus-bench measures the PrivateLink data path side by side
// with a direct routed path and HAProxy, and writes the table of
// docs/benchmarks.md. It runs as root (it builds network namespaces) and
// removes everything it made, also when interrupted:
//
//	go run ./cmd/isthmus-bench                              # full run, table on stdout
//	go run ./cmd/isthmus-bench -quick                       # a smoke run of a few seconds per path
//	go run ./cmd/isthmus-bench -write docs/benchmarks.md    # also replace the marked section there
//
// See package benchnet for the paths and the tools.
package main
