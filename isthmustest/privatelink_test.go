package isthmustest_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/isthmusnet/isthmus/api"
	"github.com/isthmusnet/isthmus/isthmustest"
	"github.com/isthmusnet/isthmus/testenv"
)

// TestAWSCLIPrivateLink runs testdata/privatelink.sh — the provider and
// consumer lifecycle of PrivateLink — with the real aws CLI against a
// SigV4 server, as two accounts.
func TestAWSCLIPrivateLink(t *testing.T) {
	awsCLI := testenv.RequireProgram(t, "aws")
	env := isthmustest.New(t, isthmustest.Options{Auth: api.AuthSigV4})
	creds := filepath.Join(t.TempDir(), "credentials")
	var file string
	for _, name := range []string{"a", "b"} {
		_, k, err := env.Cloud.CreateAccount("privatelink-"+name, false)
		if err != nil {
			t.Fatal(err)
		}
		file += fmt.Sprintf("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n", name, k.ID, k.Secret)
	}
	if err := os.WriteFile(creds, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "testdata/privatelink.sh")
	cmd.Env = append(os.Environ(),
		"AWS="+awsCLI,
		"ENDPOINT="+env.URL,
		"AWS_SHARED_CREDENTIALS_FILE="+creds,
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_PAGER=",
		"AWS_EC2_METADATA_DISABLED=true",
	)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("privatelink.sh failed: %v", err)
	}
}
