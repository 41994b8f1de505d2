package daemon

import (
	"os"
	"strconv"
	"testing"
)

// TestProcessAlive: a process is alive while it runs with the start time
// it had; a pid that does not exist is not.
func TestProcessAlive(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	self := os.Getpid()
	start := processStart(self)
	if start == "" {
		t.Fatal("no start time for this process")
	}
	if !processAlive(self, start) {
		t.Fatal("this process is not alive")
	}
	if n, _ := strconv.Atoi(start); processAlive(self, strconv.Itoa(n+1)) {
		t.Fatal("another start time (a reused pid) counts as alive")
	}
	if processAlive(1<<22+12345, "") {
		t.Fatal("a pid beyond pid_max is alive")
	}
}
