package fastpath

// The compiled programs are committed (fastpath_bpfel.o and its Go
// wrapper), so building Isthmus needs no C toolchain. Regenerate them
// after changing bpf/fastpath.c, with clang installed:
//
//	go generate ./fastpath/

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" -target bpfel -type fdb_key -type fdb_val -type port_key -type flow_key -type pp_key -type pp_header -type dev_key -type dev_stats fastpath bpf/fastpath.c
