// Command isthmus is AWS PrivateLink for your own Linux hosts.
//
//	isthmus serve                 run the API server and the data plane
//	isthmus accounts create NAME  create an account with an access key
//	isthmus accounts list         list the accounts
//	isthmus exec --eni ID -- CMD  run CMD in a network interface's namespace
//	isthmus exec --subnet ID -- CMD
//	                              ... in a new interface, for CMD's duration
//	isthmus demo                  PrivateLink end to end, as aws CLI commands
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/isthmusnet/isthmus/api"
	"github.com/isthmusnet/isthmus/daemon"
)

const usage = `usage: isthmus <command> [flags]

commands:
  serve                  run the API server and the data plane
  accounts create NAME   create an account and an access key for it
  accounts list          list the accounts
  exec --eni ENI-ID -- CMD [ARGS...]
                         run CMD inside a network interface's namespace,
                         with the VPC resolver as its DNS
  exec --subnet SUBNET-ID [--security-group SG-ID...] -- CMD [ARGS...]
                         run CMD in a new interface of the subnet, deleted
                         when CMD ends
  demo [--keep] [--endpoint URL]
                         as root: a provider and a consumer VPC with the same
                         CIDR, an HTTP service behind an NLB reached through
                         an interface endpoint, each step printed as the aws
                         CLI command; then deletes it all

Run 'isthmus <command> -h' for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "accounts":
		err = accounts(os.Args[2:])
	case "exec":
		os.Exit(execCmd(os.Args[2:]))
	case "demo":
		err = demo(os.Args[2:])
	case nsexecCommand:
		os.Exit(nsexec(os.Args[2:]))
	case "-h", "-help", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "isthmus: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "isthmus: %v\n", err)
		os.Exit(1)
	}
}

// env returns $ISTHMUS_<NAME> or def.
func env(name, def string) string {
	if v, ok := os.LookupEnv("ISTHMUS_" + name); ok {
		return v
	}
	return def
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	listen := fs.String("listen", env("LISTEN", "127.0.0.1:4750"), "address to serve the API on ($ISTHMUS_LISTEN)")
	dataDir := fs.String("data-dir", env("DATA_DIR", daemon.DefaultDataDir()), "where state and credentials live ($ISTHMUS_DATA_DIR)")
	regions := fs.String("regions", env("REGIONS", ""), "comma-separated regions to serve; empty: AWS's commercial regions ($ISTHMUS_REGIONS)")
	zones := fs.Int("zones", envInt("ZONES", 3), "availability zones per region ($ISTHMUS_ZONES)")
	auth := fs.String("auth", env("AUTH", api.AuthSigV4), "sigv4 (verify signatures) or open (accept any credentials) ($ISTHMUS_AUTH)")
	defAcct := fs.String("default-account", env("DEFAULT_ACCOUNT", "000000000000"), "account of open-mode requests whose key id is not 12 digits ($ISTHMUS_DEFAULT_ACCOUNT)")
	dp := fs.String("dataplane", env("DATAPLANE", defaultDataplane()), "linux (objects become kernel networking; needs root) or none (API only) ($ISTHMUS_DATAPLANE)")
	dpPrefix := fs.String("dataplane-prefix", env("DATAPLANE_PREFIX", "isth"), "names of the data plane's namespaces start with this and a dash: 1 to 12 lower-case letters or digits ($ISTHMUS_DATAPLANE_PREFIX)")
	fastPath := fs.Bool("fastpath", envBool("FASTPATH", true), "with --dataplane linux: let established flows skip the namespaces in the middle of a path through tc programs, where the kernel takes them ($ISTHMUS_FASTPATH)")
	dnsUpstream := fs.String("dns-upstream", env("DNS_UPSTREAM", ""), "resolver (host:port) the VPC resolvers forward names they do not hold to; empty: such names are NXDOMAIN ($ISTHMUS_DNS_UPSTREAM)")
	verifyResolver := fs.String("verify-resolver", env("VERIFY_RESOLVER", ""), "DNS server (host:port) for private DNS name TXT verification; empty: the host's first nameserver ($ISTHMUS_VERIFY_RESOLVER)")
	catalog := fs.String("service-catalog", env("SERVICE_CATALOG", ""), "JSON file extending the built-in AWS service catalog ($ISTHMUS_SERVICE_CATALOG)")
	expiry := fs.Duration("endpoint-expiry", envDuration("ENDPOINT_EXPIRY", 0), "how long an endpoint may wait in pendingAcceptance before it expires; 0: 7 days ($ISTHMUS_ENDPOINT_EXPIRY)")
	logLevel := fs.String("log-level", env("LOG_LEVEL", "info"), "debug, info, warn or error ($ISTHMUS_LOG_LEVEL)")
	fs.Parse(args)

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("bad --log-level: %v", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	var regionList []string
	if *regions != "" {
		for _, r := range strings.Split(*regions, ",") {
			regionList = append(regionList, strings.TrimSpace(r))
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return daemon.Run(ctx, daemon.Config{
		Listen:          *listen,
		DataDir:         *dataDir,
		Regions:         regionList,
		ZonesPerRegion:  *zones,
		Auth:            *auth,
		DefaultAccount:  *defAcct,
		Dataplane:       *dp,
		DataplanePrefix: *dpPrefix,
		NoFastPath:      !*fastPath,
		DNSUpstream:     *dnsUpstream,
		VerifyResolver:  *verifyResolver,
		ServiceCatalog:  *catalog,
		EndpointExpiry:  *expiry,
		Logger:          log,
		Out:             os.Stdout,
	})
}

func defaultDataplane() string {
	if runtime.GOOS == "linux" {
		return "linux"
	}
	return "none"
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, ok := os.LookupEnv("ISTHMUS_" + name); ok {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func envBool(name string, def bool) bool {
	if v, ok := os.LookupEnv("ISTHMUS_" + name); ok {
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
	}
	return def
}

func envInt(name string, def int) int {
	if v, ok := os.LookupEnv("ISTHMUS_" + name); ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

func accounts(args []string) error {
	fs := flag.NewFlagSet("accounts", flag.ExitOnError)
	dataDir := fs.String("data-dir", env("DATA_DIR", daemon.DefaultDataDir()), "the server's data dir ($ISTHMUS_DATA_DIR)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: isthmus accounts [--data-dir DIR] create NAME | list\n")
		fs.PrintDefaults()
	}
	fs.Parse(args)
	c := &daemon.AdminClient{DataDir: *dataDir}
	switch fs.Arg(0) {
	case "create":
		if fs.NArg() != 2 {
			fs.Usage()
			os.Exit(2)
		}
		name := fs.Arg(1)
		info, err := c.CreateAccount(name)
		if err != nil {
			return err
		}
		creds := filepath.Join(*dataDir, daemon.CredentialsFile)
		profile := "isthmus-" + name
		if err := daemon.AppendProfile(creds, profile, info.AccessKeyID, info.Secret); err != nil {
			return err
		}
		fmt.Printf("account %s (%s)\naws_access_key_id = %s\naws_secret_access_key = %s\n", info.ID, info.Name, info.AccessKeyID, info.Secret)
		fmt.Printf("Added as profile %q to %s:\n  AWS_SHARED_CREDENTIALS_FILE=%s aws --profile %s ...\n", profile, creds, creds, profile)
	case "list":
		infos, err := c.Accounts()
		if err != nil {
			return err
		}
		fmt.Printf("%-14s %-20s %s\n", "ACCOUNT", "NAME", "ACCESS KEYS")
		for _, a := range infos {
			name := a.Name
			if a.Admin {
				name += " (admin)"
			}
			fmt.Printf("%-14s %-20s %s\n", a.ID, name, strings.Join(a.AccessKeys, ","))
		}
	default:
		fs.Usage()
		os.Exit(2)
	}
	return nil
}
