//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "isthmus-bench: the data-path benchmark runs on Linux only (it builds network namespaces)")
	os.Exit(1)
}
