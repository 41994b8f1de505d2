package dataplane

import (
	"os"
	"strings"
	"testing"
)

func TestHasCaps(t *testing.T) {
	root := "Name:\tisthmus\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n"
	user := "Name:\tisthmus\nCapEff:\t0000000000000000\n"
	netOnly := "CapEff:\t0000000000001000\n" // CAP_NET_ADMIN alone
	if !hasCaps(root, capNetAdmin, capSysAdmin) {
		t.Error("root lacks capabilities")
	}
	if hasCaps(user, capNetAdmin) || hasCaps(netOnly, capNetAdmin, capSysAdmin) || !hasCaps(netOnly, capNetAdmin) {
		t.Error("capabilities misread")
	}
	if hasCaps("no caps line", capNetAdmin) {
		t.Error("a status without CapEff has capabilities")
	}
}

func TestCheckPrivileges(t *testing.T) {
	err := CheckPrivileges()
	if os.Geteuid() == 0 {
		if err != nil {
			t.Fatalf("root: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), "--dataplane none") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("CheckPrivileges as a user: %v", err)
	}
}
