// Package daemon wires Isthmus together: the store, the control-plane core,
// the API server with its services, and the local admin socket. `isthmus
// serve` is Run; the other subcommands use the admin client.
package daemon

import (
	"context"

	"errors"
	"fmt"
	mdns "github.com/miekg/dns"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/isthmusnet/isthmus/api"
	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/api/ec2"
	"github.com/isthmusnet/isthmus/api/elbv2"
	"github.com/isthmusnet/isthmus/api/sns"
	"github.com/isthmusnet/isthmus/api/sts"
	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/dataplane"
	"github.com/isthmusnet/isthmus/dns"
	"github.com/isthmusnet/isthmus/dnsverify"
	"github.com/isthmusnet/isthmus/metrics"
	"github.com/isthmusnet/isthmus/notify"
	"github.com/isthmusnet/isthmus/store/bolt"
)

// Config is what `isthmus serve` is told.
type Config struct {
	Listen         string
	DataDir        string
	Regions        []string // empty: AWS's commercial regions
	ZonesPerRegion int      // default 3
	Auth           string   // api.AuthSigV4 or api.AuthOpen
	DefaultAccount string
	// Dataplane is "linux" (make every object real kernel networking) or
	// "none" (a control-plane-only server).
	Dataplane string
	// DataplanePrefix names the kernel objects the data plane owns
	// (default "isth").
	DataplanePrefix string
	// NoFastPath keeps the data plane off its tc fast path (package
	// fastpath): every packet then takes the namespaces' ordinary stacks.
	// Without it the fast path is used wherever the kernel takes it.
	NoFastPath bool
	// DNSUpstream, if set, is the resolver (host:port) that the VPC
	// resolvers forward names they do not hold to; otherwise such names
	// are NXDOMAIN.
	DNSUpstream string
	// VerifyResolver is the DNS server (host:port) asked for the TXT
	// records that prove a private DNS name; empty: the host's first
	// nameserver in /etc/resolv.conf.
	VerifyResolver string
	// ServiceCatalog, if set, is a JSON file extending (or replacing) the
	// built-in catalog of AWS services (core/catalog.json).
	ServiceCatalog string
	// EndpointExpiry is how long an endpoint may wait in pendingAcceptance
	// before it expires (default core.PendingAcceptanceTTL, 7 days).
	EndpointExpiry time.Duration
	Logger         *slog.Logger
	// Out receives the start-up banner (where it listens, how to use it).
	Out io.Writer
	// Ready, if set, is called with the bound address once serving.
	Ready func(addr string)
}

// File names inside the data dir.
const (
	DBFile          = "isthmus.db"
	CredentialsFile = "credentials"
	AdminSocket     = "admin.sock"
	AdminProfile    = "isthmus"
)

// MetricsPath is where the API port serves Prometheus metrics (with the
// Linux data plane): package metrics, CloudWatch's PrivateLink metrics.
const MetricsPath = "/metrics"

// DefaultDataDir is /var/lib/isthmus for root, else $XDG_DATA_HOME/isthmus.
func DefaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/isthmus"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "isthmus")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "isthmus")
}

// Run serves until ctx is done, then shuts down cleanly.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	if cfg.ZonesPerRegion == 0 {
		cfg.ZonesPerRegion = 3
	}
	if cfg.ZonesPerRegion < 1 || cfg.ZonesPerRegion > 9 {
		return fmt.Errorf("zones per region must be 1 to 9, not %d", cfg.ZonesPerRegion)
	}
	names := cfg.Regions
	if len(names) == 0 {
		names = core.CommercialRegions
	}
	var regions []core.Region
	for _, n := range names {
		if !validRegionName(n) {
			return fmt.Errorf("bad region name %q", n)
		}
		regions = append(regions, core.NewRegion(n, cfg.ZonesPerRegion))
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	st, err := bolt.Open(filepath.Join(cfg.DataDir, DBFile), bolt.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("opening store: %w", err)
	}
	defer st.Close()
	var catalog *core.Catalog
	if cfg.ServiceCatalog != "" {
		if catalog, err = core.LoadCatalog(cfg.ServiceCatalog); err != nil {
			return fmt.Errorf("service catalog: %w", err)
		}
	}
	cloud := core.New(st, core.Options{Regions: regions, Logger: log, Catalog: catalog})

	// Private DNS names of endpoint services are verified by real TXT
	// lookups; endpoints left in pendingAcceptance expire.
	verifier := dnsverify.New(cloud, log.With("component", "dnsverify"), dnsverify.Options{Resolver: verifyResolver(cfg.VerifyResolver)})
	go verifier.Run(ctx)
	defer verifier.Close()
	go expireEndpoints(ctx, cloud, cfg.EndpointExpiry, log)

	adm := &adminDeps{cloud: cloud, log: log}
	var metricsSource metrics.Source
	switch cfg.Dataplane {
	case "linux":
		if err := dataplane.CheckPrivileges(); err != nil {
			return err
		}
		prefix := cfg.DataplanePrefix
		if prefix == "" {
			prefix = dataplane.DefaultPrefix
		}
		k := dataplane.NewLinuxKernel(log.With("component", "kernel"))
		defer k.Close()
		fast := false
		if !cfg.NoFastPath {
			if err := k.EnableFastPath(); err != nil {
				log.Warn("running without the fast path", "err", err)
			} else {
				fast = true
			}
		}
		// The VPC resolvers follow the data plane; they close with the
		// daemon (their sockets cannot outlive it) and reopen on start.
		resolvers := dns.NewManager(dns.Options{Prefix: prefix, Upstream: cfg.DNSUpstream, Logger: log.With("component", "dns"),
			Zones: []dns.ZoneSource{dns.EndpointNames}})
		defer resolvers.Close()
		// The load balancers' health checks run from their namespaces and
		// write to the store, which the data plane routes by.
		checks := dataplane.NewHealthChecks(cloud.SetTargetHealth, dataplane.HealthOptions{
			Prefix: prefix, Flusher: k, Logger: log.With("component", "health")})
		defer checks.Close()
		// Deregistered targets drain, then their deregistration completes.
		drains := dataplane.NewDraining(cloud.EndDraining, k, prefix, log.With("component", "draining"))
		defer drains.Close()
		// Listeners whose target group enables proxy protocol v2: the
		// fast path writes the headers; without it, userspace proxies do.
		proxies := dataplane.NewProxies(dataplane.ProxyOptions{Prefix: prefix, Logger: log.With("component", "ppv2"),
			Kernel: fast})
		defer proxies.Close()
		rec, err := dataplane.New(cloud, k, log.With("component", "dataplane"), dataplane.Options{
			Prefix:    prefix,
			Followers: []dataplane.Follower{resolvers, checks, drains, proxies},
			FastPath:  fast,
		})
		if err != nil {
			return err
		}
		// Closing leaves the kernel state in place: a restarted daemon
		// takes it over without touching live flows. (Deferred after the
		// resolvers' Close, so it runs first.)
		defer rec.Close()
		go func() {
			if err := rec.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("data plane stopped", "err", err)
			}
		}()
		adm.rec, adm.prefix = rec, prefix
		metricsSource = metrics.FromKernel(prefix, cloud, k.FastPath())
		cctx, stopCollector := context.WithCancel(ctx)
		collected := make(chan struct{})
		go func() {
			defer close(collected)
			collectExecInterfaces(cctx, adm)
		}()
		defer func() { stopCollector(); <-collected }()
	case "none", "":
	default:
		return fmt.Errorf("unknown data plane %q (want linux or none)", cfg.Dataplane)
	}

	if cfg.Auth == api.AuthSigV4 {
		if err := ensureAdmin(cloud, cfg.DataDir, out); err != nil {
			return err
		}
	}
	srv, err := api.NewServer(api.Options{
		Cloud:          cloud,
		Auth:           cfg.Auth,
		DefaultAccount: cfg.DefaultAccount,
		DefaultRegion:  names[0],
		Services:       Services(cloud),
		Logger:         log,
	})
	if err != nil {
		return err
	}
	// The admin socket comes up before the API port, so that whoever sees
	// the port open can also manage accounts.
	admin, err := serveAdmin(filepath.Join(cfg.DataDir, AdminSocket), adm)
	if err != nil {
		return err
	}
	defer admin.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	// The notification worker delivers SNS messages (endpoint connection
	// notifications among them); subscribers confirm through this API and
	// fetch its signing certificate from it.
	worker := notify.New(cloud, log.With("component", "notify"), notify.Options{Endpoint: publicURL(ln.Addr())})
	defer worker.Close()
	mux := http.NewServeMux()
	mux.Handle(notify.CertPath, worker.CertHandler())
	if metricsSource != nil {
		// Prometheus metrics of PrivateLink, CloudWatch's names.
		mux.Handle(MetricsPath, metrics.Handler(metricsSource, log.With("component", "metrics")))
	}
	mux.Handle("/", srv)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	wctx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	go func() {
		if err := worker.Run(wctx); err != nil && wctx.Err() == nil {
			log.Error("notification worker stopped", "err", err)
		}
	}()

	addr := ln.Addr().String()
	banner(out, addr, cfg)
	if cfg.Ready != nil {
		cfg.Ready(addr)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Services returns every API service Isthmus serves over cloud.
func Services(cloud *core.Cloud) []*awsquery.Service {
	return []*awsquery.Service{ec2.New(cloud), elbv2.New(cloud), sts.New(), sns.New(cloud)}
}

// verifyResolver returns the resolver for private DNS verification: the one
// configured, else the host's first nameserver.
func verifyResolver(configured string) string {
	if configured != "" {
		return configured
	}
	if cc, err := mdns.ClientConfigFromFile("/etc/resolv.conf"); err == nil && len(cc.Servers) > 0 {
		return net.JoinHostPort(cc.Servers[0], cc.Port)
	}
	return "127.0.0.1:53"
}

// expireEndpoints moves endpoints left too long in pendingAcceptance to
// expired, once a minute, until ctx ends.
func expireEndpoints(ctx context.Context, cloud *core.Cloud, ttl time.Duration, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if n, err := cloud.ExpireEndpoints(ttl); err != nil {
			log.Warn("expiring endpoints", "err", err)
		} else if n > 0 {
			log.Info("endpoints expired", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// publicURL is where subscribers reach the API: the listen address, with an
// unspecified host replaced by 127.0.0.1.
func publicURL(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func validRegionName(n string) bool {
	parts := strings.Split(n, "-")
	return len(parts) == 3 && parts[0] != "" && parts[1] != "" && parts[2] != ""
}

func banner(w io.Writer, addr string, cfg Config) {
	dp := cfg.Dataplane
	if dp == "" {
		dp = "none"
	}
	fmt.Fprintf(w, "isthmus: serving the EC2, ELBv2, STS and SNS APIs on http://%s (auth %s, data plane %s, data %s)\n", addr, cfg.Auth, dp, cfg.DataDir)
	if cfg.Auth == api.AuthSigV4 {
		fmt.Fprintf(w, "Use it with the aws CLI:\n  AWS_SHARED_CREDENTIALS_FILE=%s aws --profile %s --region us-east-1 --endpoint-url http://%s ec2 describe-vpcs\n",
			filepath.Join(cfg.DataDir, CredentialsFile), AdminProfile, addr)
	} else {
		fmt.Fprintf(w, "Open mode: any credentials are accepted; an access key id of 12 digits selects that account.\n  AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=x aws --region us-east-1 --endpoint-url http://%s ec2 describe-vpcs\n",
			cfg.DefaultAccount, addr)
	}
}

// ensureAdmin creates the admin account on first start and writes its
// credentials file.
func ensureAdmin(cloud *core.Cloud, dataDir string, out io.Writer) error {
	accts, err := cloud.Accounts()
	if err != nil {
		return err
	}
	for _, a := range accts {
		if a.Admin {
			return nil
		}
	}
	acct, key, err := cloud.CreateAccount("admin", true)
	if err != nil {
		return err
	}
	path := filepath.Join(dataDir, CredentialsFile)
	if err := AppendProfile(path, AdminProfile, key.ID, key.Secret); err != nil {
		return err
	}
	fmt.Fprintf(out, "isthmus: created the admin account %s; its credentials are in %s (profile %q)\n", acct.ID, path, AdminProfile)
	return nil
}

// AppendProfile adds a profile with key to an AWS shared-credentials file,
// creating it (mode 0600) if needed.
func AppendProfile(path, profile, keyID, secret string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n", profile, keyID, secret)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
