// Package testenv decides whether a test that needs root or an external
// program can run here. Elsewhere such a test skips with a clear message;
// under ISTHMUS_TEST_STRICT=1 (set by .ci/run) it fails instead, so that CI
// can never pass by skipping what it was meant to prove.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Strict reports whether missing prerequisites fail tests instead of
// skipping them.
func Strict() bool { return os.Getenv("ISTHMUS_TEST_STRICT") == "1" }

func skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if Strict() {
		t.Fatalf("ISTHMUS_TEST_STRICT=1 but: "+format, args...)
	}
	t.Skipf(format, args...)
}

// RequireRoot skips (or, strict, fails) t unless it runs as root, which the
// data-plane tests need to create namespaces, links and nftables rules.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skip(t, "needs root (CAP_NET_ADMIN) to build network namespaces; run the tests as root")
	}
}

// RequireProgram returns the path of an external program, or skips (or,
// strict, fails) t. $ISTHMUS_<NAME>_PATH, if set, names the binary to use
// (for example ISTHMUS_AWS_PATH=/usr/bin/aws picks Debian's aws CLI v2 over
// another one earlier in PATH).
func RequireProgram(t testing.TB, name string) string {
	t.Helper()
	if p := os.Getenv("ISTHMUS_" + envName(name) + "_PATH"); p != "" {
		if _, err := os.Stat(p); err != nil {
			skip(t, "%s: ISTHMUS_%s_PATH=%s: %v", name, envName(name), p, err)
		}
		return p
	}
	p, err := exec.LookPath(name)
	if err != nil {
		skip(t, "needs %s in PATH (Debian package: %s)", name, debianPackage(name))
	}
	return p
}

func envName(name string) string {
	b := []byte(name)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			b[i] = '_'
		}
	}
	return string(b)
}

func debianPackage(name string) string {
	switch name {
	case "aws":
		return "awscli"
	case "dig":
		return "dnsutils"
	case "ip":
		return "iproute2"
	case "nft":
		return "nftables"
	}
	return name
}
