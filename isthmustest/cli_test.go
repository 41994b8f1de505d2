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

// TestAWSCLIWalkthrough runs testdata/walkthrough.sh — every VPC-core
// resource created, described, filtered, paginated, tagged and deleted —
// with the real aws CLI against a SigV4 server, as two accounts.
func TestAWSCLIWalkthrough(t *testing.T) {
	runCLIScript(t, "testdata/walkthrough.sh")
}

// TestAWSCLIPrivateLink runs testdata/privatelink.sh — the provider and
// consumer lifecycle of PrivateLink — the same way.
func TestAWSCLIPrivateLink(t *testing.T) {
	runCLIScript(t, "testdata/privatelink.sh")
}

// runCLIScript runs a bash script with the aws CLI against a SigV4 server.
// The script gets AWS (the CLI binary), ENDPOINT and a credentials file with
// the profiles "a" and "b", two accounts.
func runCLIScript(t *testing.T, script string) {
	awsCLI := testenv.RequireProgram(t, "aws")
	env := isthmustest.New(t, isthmustest.Options{Auth: api.AuthSigV4})
	creds := filepath.Join(t.TempDir(), "credentials")
	var file string
	for _, name := range []string{"a", "b"} {
		_, k, err := env.Cloud.CreateAccount("cli-"+name, false)
		if err != nil {
			t.Fatal(err)
		}
		file += fmt.Sprintf("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n", name, k.ID, k.Secret)
	}
	if err := os.WriteFile(creds, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script)
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
		t.Fatalf("%s failed: %v", script, err)
	}
}
