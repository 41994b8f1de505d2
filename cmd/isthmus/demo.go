package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elb "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
	isthdns "github.com/isthmusnet/isthmus/dns"

	"github.com/isthmusnet/isthmus/api"
	"github.com/isthmusnet/isthmus/daemon"
	"github.com/isthmusnet/isthmus/dataplane"
	"github.com/isthmusnet/isthmus/netns"
)

// isthmus demo: PrivateLink end to end, through the API as the aws CLI
// would drive it, with real traffic.

const demoUsage = `usage: isthmus demo [--endpoint URL --dataplane-prefix P] [--keep] [-v]

As root: builds a provider VPC with a small HTTP service behind a network
load balancer, publishes it as an endpoint service that requires
acceptance, and reaches it from a consumer VPC with the same CIDR through
an interface endpoint: every step is printed as the aws CLI command that
does it. It then fetches the page through the endpoint's DNS name from
inside the consumer VPC, shows the source address the service saw (the
load balancer's), deletes everything and checks nothing is left.

Without --endpoint it runs an Isthmus of its own (a temporary data dir,
--auth open, the Linux data plane under a prefix of its own). With
--endpoint it uses a running 'isthmus serve --auth open' on this host
(accounts 111111111111 and 222222222222 by their 12-digit key ids).

Flags:
`

// demoConfig is what one run of the demo needs.
type demoConfig struct {
	Endpoint        string        // a running server's URL; "" to start one
	DataplanePrefix string        // the running server's data-plane prefix
	Keep            bool          // leave it all running until interrupted
	Timeout         time.Duration // how long the data plane may take to carry the page
	Provider        string        // account ids (open auth)
	Consumer        string
	Logger          *slog.Logger // the in-process server's log
	Wait            func()       // with Keep: returns when the user is done
}

func demo(args []string) error {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	endpoint := fs.String("endpoint", "", "URL of a running 'isthmus serve --auth open' on this host; empty: start one in-process")
	prefix := fs.String("dataplane-prefix", env("DATAPLANE_PREFIX", "isth"), "with --endpoint: the server's --dataplane-prefix ($ISTHMUS_DATAPLANE_PREFIX)")
	keep := fs.Bool("keep", false, "leave everything running for inspection until Ctrl-C")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the data plane to carry traffic")
	verbose := fs.Bool("v", false, "print the in-process server's log")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), demoUsage)
		fs.PrintDefaults()
	}
	fs.Parse(args)
	if fs.NArg() > 0 {
		fs.Usage()
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		return errors.New("demo: needs root: it creates network namespaces and listens inside them (run it with sudo)")
	}
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := demoConfig{
		Endpoint: *endpoint, DataplanePrefix: *prefix, Keep: *keep, Timeout: *timeout,
		Provider: "111111111111", Consumer: "222222222222", Logger: log,
		Wait: func() {
			fmt.Println("\nLeft running. Press Ctrl-C to delete it all.")
			<-ctx.Done()
			stop() // a second Ctrl-C kills
		},
	}
	return runDemo(context.WithoutCancel(ctx), cfg, os.Stdout)
}

// demoRun is the state of one run.
type demoRun struct {
	cfg    demoConfig
	out    io.Writer
	prefix string
	url    string
	n      int // steps so far

	ec2P, ec2C *ec2.Client
	elbP       *elb.Client

	// What was made, for the page, the checks and the cleanup.
	vpcP, subP, sgP, targetENI, targetNS string
	targetIP                             netip.Addr
	lbARN, tgARN, listenerARN            string
	lbIPs                                []string
	svcID, svcName                       string
	vpcC, subC, sgC, clientENI, clientNS string
	endpointID, dnsName                  string
	resolver                             string

	srv   *http.Server
	mu    sync.Mutex
	peers []string // remote addresses the target saw
}

const (
	demoCIDR       = "10.0.0.0/16"
	demoSubnetCIDR = "10.0.1.0/24"
	demoZone       = "us-east-1a"
	demoRegion     = "us-east-1"
	demoTargetIP   = "10.0.1.10"
	demoClientIP   = "10.0.1.20"
	demoLBIP       = "10.0.1.100"
	demoTargetPort = 8080
	demoPort       = 80
)

// runDemo runs the demo, printing to out; the error names the step that
// failed. Everything it made is gone when it returns (unless the server
// it was given keeps what a failed cleanup could not delete: then the
// error says so).
func runDemo(ctx context.Context, cfg demoConfig, out io.Writer) (err error) {
	d := &demoRun{cfg: cfg, out: out}
	if cfg.Endpoint == "" {
		stopServer, err := d.startServer(ctx)
		if err != nil {
			return err
		}
		defer func() {
			if serr := stopServer(); serr != nil && err == nil {
				err = serr
			}
		}()
	} else {
		d.url, d.prefix = strings.TrimRight(cfg.Endpoint, "/"), cfg.DataplanePrefix
		d.printf("Using the Isthmus at %s (data-plane prefix %q).\n", d.url, d.prefix)
	}
	d.ec2P = ec2.NewFromConfig(d.awsConfig(cfg.Provider))
	d.elbP = elb.NewFromConfig(d.awsConfig(cfg.Provider))
	d.ec2C = ec2.NewFromConfig(d.awsConfig(cfg.Consumer))
	d.printf("\nexport AWS_ENDPOINT_URL=%s AWS_REGION=%s AWS_SECRET_ACCESS_KEY=demo\n", d.url, demoRegion)
	d.printf("# provider: AWS_ACCESS_KEY_ID=%s   consumer: AWS_ACCESS_KEY_ID=%s\n", cfg.Provider, cfg.Consumer)

	defer func() {
		if d.srv != nil {
			d.srv.Close()
		}
	}()
	runErr := d.build(ctx)
	if runErr == nil {
		runErr = d.fetch(ctx)
	}
	if runErr == nil && cfg.Keep {
		d.inspect()
		if cfg.Wait != nil {
			cfg.Wait()
		}
	}
	cleanErr := d.cleanup(ctx)
	if runErr != nil {
		if cleanErr != nil {
			return fmt.Errorf("%w\n(and cleaning up: %v)", runErr, cleanErr)
		}
		return runErr
	}
	if cleanErr != nil {
		return cleanErr
	}
	d.printf("\nDone: everything the demo made is gone.\n")
	return nil
}

func (d *demoRun) printf(format string, args ...any) { fmt.Fprintf(d.out, format, args...) }

// step prints the aws CLI command of a step, runs it and prints its
// result; its error names the step.
func (d *demoRun) step(who, cli string, fn func() (string, error)) error {
	d.n++
	d.printf("\n# %d. [%s]\n$ %s\n", d.n, who, cli)
	res, err := fn()
	if err != nil {
		return fmt.Errorf("step %d failed [%s] %s: %w", d.n, who, cli, err)
	}
	if res != "" {
		d.printf("  → %s\n", res)
	}
	return nil
}

func (d *demoRun) awsConfig(account string) aws.Config {
	return aws.Config{
		Region:       demoRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(account, "demo", ""),
		BaseEndpoint: aws.String(d.url),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
		HTTPClient: awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.DisableKeepAlives = true
		}),
	}
}

// startServer runs an in-process Isthmus as `isthmus serve --auth open`
// does, under a data-plane prefix of its own; stop stops it and removes
// every namespace of the prefix and the data dir.
func (d *demoRun) startServer(ctx context.Context) (stop func() error, err error) {
	if err := dataplane.CheckPrivileges(); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	var b [3]byte
	rand.Read(b[:])
	d.prefix = "demo" + hex.EncodeToString(b[:])
	dir, err := os.MkdirTemp("", "isthmus-demo-")
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan string, 1)
	go func() {
		done <- daemon.Run(dctx, daemon.Config{
			Listen: "127.0.0.1:0", DataDir: dir, Regions: []string{demoRegion},
			Auth: api.AuthOpen, DefaultAccount: d.cfg.Provider,
			Dataplane: "linux", DataplanePrefix: d.prefix,
			Logger: d.cfg.Logger, Out: io.Discard,
			Ready: func(addr string) { ready <- addr },
		})
	}()
	stopped := false
	stop = func() error {
		var errs []error
		cancel()
		if !stopped {
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					errs = append(errs, fmt.Errorf("isthmus: %w", err))
				}
			case <-time.After(20 * time.Second):
				errs = append(errs, errors.New("isthmus did not stop within 20s"))
			}
		}
		k := dataplane.NewLinuxKernel(nil)
		if err := dataplane.Teardown(k, d.prefix); err != nil {
			errs = append(errs, fmt.Errorf("removing the namespaces of %s: %w", d.prefix, err))
		}
		k.Close()
		errs = append(errs, os.RemoveAll(dir))
		return errors.Join(errs...)
	}
	select {
	case addr := <-ready:
		d.url = "http://" + addr
	case err := <-done:
		stopped = true
		stop()
		return nil, fmt.Errorf("demo: starting isthmus: %w", err)
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	case <-time.After(30 * time.Second):
		stop()
		return nil, errors.New("demo: isthmus did not start within 30s")
	}
	d.printf("Started Isthmus at %s (isthmus serve --auth open --dataplane-prefix %s --data-dir %s).\n", d.url, d.prefix, dir)
	return stop, nil
}

// build makes the provider's service and the consumer's endpoint.
func (d *demoRun) build(ctx context.Context) error {
	d.printf("\n## The provider (account %s): a VPC, an HTTP service, a network load balancer\n", d.cfg.Provider)
	if err := d.step("provider", "aws ec2 create-vpc --cidr-block "+demoCIDR, func() (string, error) {
		o, err := d.ec2P.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(demoCIDR)})
		if err != nil {
			return "", err
		}
		d.vpcP = aws.ToString(o.Vpc.VpcId)
		return d.vpcP, nil
	}); err != nil {
		return err
	}
	if err := d.step("provider", fmt.Sprintf("aws ec2 create-subnet --vpc-id %s --cidr-block %s --availability-zone %s", d.vpcP, demoSubnetCIDR, demoZone), func() (string, error) {
		o, err := d.ec2P.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &d.vpcP, CidrBlock: aws.String(demoSubnetCIDR), AvailabilityZone: aws.String(demoZone)})
		if err != nil {
			return "", err
		}
		d.subP = aws.ToString(o.Subnet.SubnetId)
		return d.subP, nil
	}); err != nil {
		return err
	}
	var err error
	if d.sgP, err = d.group(ctx, "provider", d.ec2P, d.vpcP, "demo-web", "HTTP from the VPC", demoTargetPort); err != nil {
		return err
	}
	if err := d.step("provider", fmt.Sprintf("aws ec2 create-network-interface --subnet-id %s --groups %s --private-ip-address %s --description \"demo web server\"", d.subP, d.sgP, demoTargetIP), func() (string, error) {
		o, err := d.ec2P.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{
			SubnetId: &d.subP, Groups: []string{d.sgP}, PrivateIpAddress: aws.String(demoTargetIP), Description: aws.String("demo web server"),
		})
		if err != nil {
			return "", err
		}
		d.targetENI = aws.ToString(o.NetworkInterface.NetworkInterfaceId)
		d.targetIP, err = netip.ParseAddr(aws.ToString(o.NetworkInterface.PrivateIpAddress))
		d.targetNS = dataplane.ENINamespace(d.prefix, d.targetENI)
		return fmt.Sprintf("%s (%s)", d.targetENI, d.targetIP), err
	}); err != nil {
		return err
	}
	if err := d.serve(ctx); err != nil {
		return err
	}
	if err := d.step("provider", fmt.Sprintf("aws elbv2 create-load-balancer --name demo --type network --scheme internal --subnet-mappings SubnetId=%s,PrivateIPv4Address=%s", d.subP, demoLBIP), func() (string, error) {
		o, err := d.elbP.CreateLoadBalancer(ctx, &elb.CreateLoadBalancerInput{
			Name: aws.String("demo"), Type: elbtypes.LoadBalancerTypeEnumNetwork,
			Scheme:         elbtypes.LoadBalancerSchemeEnumInternal,
			SubnetMappings: []elbtypes.SubnetMapping{{SubnetId: &d.subP, PrivateIPv4Address: aws.String(demoLBIP)}},
		})
		if err != nil {
			return "", err
		}
		lb := o.LoadBalancers[0]
		d.lbARN = aws.ToString(lb.LoadBalancerArn)
		for _, z := range lb.AvailabilityZones {
			for _, a := range z.LoadBalancerAddresses {
				if ip := aws.ToString(a.PrivateIPv4Address); ip != "" {
					d.lbIPs = append(d.lbIPs, ip)
				}
			}
		}
		return fmt.Sprintf("%s (private IP %s)", d.lbARN, strings.Join(d.lbIPs, ", ")), nil
	}); err != nil {
		return err
	}
	if err := d.step("provider", fmt.Sprintf("aws elbv2 create-target-group --name demo-web --protocol TCP --port %d --vpc-id %s --target-type ip", demoTargetPort, d.vpcP), func() (string, error) {
		o, err := d.elbP.CreateTargetGroup(ctx, &elb.CreateTargetGroupInput{
			Name: aws.String("demo-web"), Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(demoTargetPort),
			VpcId: &d.vpcP, TargetType: elbtypes.TargetTypeEnumIp,
		})
		if err != nil {
			return "", err
		}
		d.tgARN = aws.ToString(o.TargetGroups[0].TargetGroupArn)
		return d.tgARN, nil
	}); err != nil {
		return err
	}
	if err := d.step("provider", fmt.Sprintf("aws elbv2 register-targets --target-group-arn %s --targets Id=%s,Port=%d", d.tgARN, d.targetIP, demoTargetPort), func() (string, error) {
		_, err := d.elbP.RegisterTargets(ctx, &elb.RegisterTargetsInput{
			TargetGroupArn: &d.tgARN, Targets: []elbtypes.TargetDescription{{Id: aws.String(d.targetIP.String()), Port: aws.Int32(demoTargetPort)}},
		})
		return "", err
	}); err != nil {
		return err
	}
	if err := d.step("provider", fmt.Sprintf("aws elbv2 create-listener --load-balancer-arn %s --protocol TCP --port %d --default-actions Type=forward,TargetGroupArn=%s", d.lbARN, demoPort, d.tgARN), func() (string, error) {
		o, err := d.elbP.CreateListener(ctx, &elb.CreateListenerInput{
			LoadBalancerArn: &d.lbARN, Protocol: elbtypes.ProtocolEnumTcp, Port: aws.Int32(demoPort),
			DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, TargetGroupArn: &d.tgARN}},
		})
		if err != nil {
			return "", err
		}
		d.listenerARN = aws.ToString(o.Listeners[0].ListenerArn)
		return d.listenerARN, nil
	}); err != nil {
		return err
	}

	d.printf("\n## The provider publishes it as an endpoint service\n")
	if err := d.step("provider", fmt.Sprintf("aws ec2 create-vpc-endpoint-service-configuration --network-load-balancer-arns %s --acceptance-required", d.lbARN), func() (string, error) {
		o, err := d.ec2P.CreateVpcEndpointServiceConfiguration(ctx, &ec2.CreateVpcEndpointServiceConfigurationInput{
			NetworkLoadBalancerArns: []string{d.lbARN}, AcceptanceRequired: aws.Bool(true),
		})
		if err != nil {
			return "", err
		}
		d.svcID = aws.ToString(o.ServiceConfiguration.ServiceId)
		d.svcName = aws.ToString(o.ServiceConfiguration.ServiceName)
		return fmt.Sprintf("%s (%s)", d.svcID, d.svcName), nil
	}); err != nil {
		return err
	}
	principal := "arn:aws:iam::" + d.cfg.Consumer + ":root"
	if err := d.step("provider", fmt.Sprintf("aws ec2 modify-vpc-endpoint-service-permissions --service-id %s --add-allowed-principals %s", d.svcID, principal), func() (string, error) {
		_, err := d.ec2P.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{
			ServiceId: &d.svcID, AddAllowedPrincipals: []string{principal},
		})
		return "", err
	}); err != nil {
		return err
	}

	d.printf("\n## The consumer (account %s): a VPC with the SAME CIDR, a client, an interface endpoint\n", d.cfg.Consumer)
	if err := d.step("consumer", "aws ec2 create-vpc --cidr-block "+demoCIDR, func() (string, error) {
		o, err := d.ec2C.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(demoCIDR)})
		if err != nil {
			return "", err
		}
		d.vpcC = aws.ToString(o.Vpc.VpcId)
		return d.vpcC, nil
	}); err != nil {
		return err
	}
	if err := d.step("consumer", fmt.Sprintf("aws ec2 create-subnet --vpc-id %s --cidr-block %s --availability-zone %s", d.vpcC, demoSubnetCIDR, demoZone), func() (string, error) {
		o, err := d.ec2C.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &d.vpcC, CidrBlock: aws.String(demoSubnetCIDR), AvailabilityZone: aws.String(demoZone)})
		if err != nil {
			return "", err
		}
		d.subC = aws.ToString(o.Subnet.SubnetId)
		return d.subC, nil
	}); err != nil {
		return err
	}
	if d.sgC, err = d.group(ctx, "consumer", d.ec2C, d.vpcC, "demo-endpoint", "HTTP from the VPC to the endpoint", demoPort); err != nil {
		return err
	}
	if err := d.step("consumer", fmt.Sprintf("aws ec2 create-network-interface --subnet-id %s --private-ip-address %s --description \"demo client\"", d.subC, demoClientIP), func() (string, error) {
		o, err := d.ec2C.CreateNetworkInterface(ctx, &ec2.CreateNetworkInterfaceInput{
			SubnetId: &d.subC, PrivateIpAddress: aws.String(demoClientIP), Description: aws.String("demo client"),
		})
		if err != nil {
			return "", err
		}
		d.clientENI = aws.ToString(o.NetworkInterface.NetworkInterfaceId)
		d.clientNS = dataplane.ENINamespace(d.prefix, d.clientENI)
		return fmt.Sprintf("%s (%s, the same address space as the provider's)", d.clientENI, aws.ToString(o.NetworkInterface.PrivateIpAddress)), nil
	}); err != nil {
		return err
	}
	if err := d.step("consumer", fmt.Sprintf("aws ec2 create-vpc-endpoint --vpc-endpoint-type Interface --vpc-id %s --service-name %s --subnet-ids %s --security-group-ids %s", d.vpcC, d.svcName, d.subC, d.sgC), func() (string, error) {
		o, err := d.ec2C.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{
			VpcId: &d.vpcC, ServiceName: &d.svcName, VpcEndpointType: ec2types.VpcEndpointTypeInterface,
			SubnetIds: []string{d.subC}, SecurityGroupIds: []string{d.sgC},
		})
		if err != nil {
			return "", err
		}
		e := o.VpcEndpoint
		d.endpointID = aws.ToString(e.VpcEndpointId)
		if len(e.DnsEntries) == 0 {
			return "", fmt.Errorf("endpoint %s has no DnsEntries", d.endpointID)
		}
		d.dnsName = aws.ToString(e.DnsEntries[0].DnsName)
		return fmt.Sprintf("%s, state %s, DNS name %s", d.endpointID, e.State, d.dnsName), nil
	}); err != nil {
		return err
	}

	d.printf("\n## The provider accepts the connection\n")
	if err := d.step("provider", "aws ec2 describe-vpc-endpoint-connections --filters Name=service-id,Values="+d.svcID, func() (string, error) {
		o, err := d.ec2P.DescribeVpcEndpointConnections(ctx, &ec2.DescribeVpcEndpointConnectionsInput{
			Filters: []ec2types.Filter{{Name: aws.String("service-id"), Values: []string{d.svcID}}},
		})
		if err != nil {
			return "", err
		}
		var s []string
		for _, c := range o.VpcEndpointConnections {
			s = append(s, fmt.Sprintf("%s from %s: %s", aws.ToString(c.VpcEndpointId), aws.ToString(c.VpcEndpointOwner), c.VpcEndpointState))
		}
		if len(s) == 0 {
			return "", errors.New("the provider sees no connection request")
		}
		return strings.Join(s, "; "), nil
	}); err != nil {
		return err
	}
	if err := d.step("provider", fmt.Sprintf("aws ec2 accept-vpc-endpoint-connections --service-id %s --vpc-endpoint-ids %s", d.svcID, d.endpointID), func() (string, error) {
		o, err := d.ec2P.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{
			ServiceId: &d.svcID, VpcEndpointIds: []string{d.endpointID},
		})
		if err != nil {
			return "", err
		}
		for _, u := range o.Unsuccessful {
			if u.Error != nil {
				return "", fmt.Errorf("%s: %s: %s", aws.ToString(u.ResourceId), aws.ToString(u.Error.Code), aws.ToString(u.Error.Message))
			}
		}
		return "", nil
	}); err != nil {
		return err
	}
	return d.step("consumer", "aws ec2 describe-vpc-endpoints --vpc-endpoint-ids "+d.endpointID+" --query 'VpcEndpoints[0].State'", func() (string, error) {
		var state string
		err := poll(ctx, 10*time.Second, func() (bool, error) {
			o, err := d.ec2C.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{d.endpointID}})
			if err != nil {
				return false, err
			}
			if len(o.VpcEndpoints) != 1 {
				return false, fmt.Errorf("%d endpoints described", len(o.VpcEndpoints))
			}
			state = string(o.VpcEndpoints[0].State)
			return state == "available", nil
		})
		if err != nil {
			return "", fmt.Errorf("the endpoint is %s, not available: %w", state, err)
		}
		return state, nil
	})
}

// group creates a security group admitting TCP port from the VPC's CIDR.
func (d *demoRun) group(ctx context.Context, who string, c *ec2.Client, vpc, name, desc string, port int32) (string, error) {
	var id string
	if err := d.step(who, fmt.Sprintf("aws ec2 create-security-group --vpc-id %s --group-name %s --description %q", vpc, name, desc), func() (string, error) {
		o, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{VpcId: &vpc, GroupName: &name, Description: &desc})
		if err != nil {
			return "", err
		}
		id = aws.ToString(o.GroupId)
		return id, nil
	}); err != nil {
		return "", err
	}
	return id, d.step(who, fmt.Sprintf("aws ec2 authorize-security-group-ingress --group-id %s --protocol tcp --port %d --cidr %s", id, port, demoCIDR), func() (string, error) {
		_, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{
			GroupId: &id,
			IpPermissions: []ec2types.IpPermission{{
				IpProtocol: aws.String("tcp"), FromPort: aws.Int32(port), ToPort: aws.Int32(port),
				IpRanges: []ec2types.IpRange{{CidrIp: aws.String(demoCIDR)}},
			}},
		})
		return "", err
	})
}

// serve starts the provider's HTTP server in the target interface's
// namespace: it answers with the address it sees the request come from.
func (d *demoRun) serve(ctx context.Context) error {
	d.n++
	addr := fmt.Sprintf("%s:%d", d.targetIP, demoTargetPort)
	d.printf("\n# %d. [provider] on the instance: a web server on %s\n$ ip netns exec %s <web server on :%d>\n", d.n, addr, d.targetNS, demoTargetPort)
	if err := poll(ctx, d.cfg.Timeout, func() (bool, error) { return netns.Exists(d.targetNS), nil }); err != nil {
		return fmt.Errorf("step %d failed: the data plane did not create namespace %s for %s: %w", d.n, d.targetNS, d.targetENI, err)
	}
	var ln net.Listener
	if err := poll(ctx, d.cfg.Timeout, func() (bool, error) {
		var err error
		ln, err = netns.Listen(d.targetNS, "tcp4", addr)
		return err == nil, nil // the address may not be there yet
	}); err != nil {
		return fmt.Errorf("step %d failed: listening on %s in %s: %w", d.n, addr, d.targetNS, err)
	}
	d.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		d.peers = append(d.peers, r.RemoteAddr)
		d.mu.Unlock()
		fmt.Fprintf(w, "Hello from the provider's web server %s in %s.\nI see this request coming from %s.\n", addr, d.vpcP, r.RemoteAddr)
	})}
	go d.srv.Serve(ln)
	d.printf("  → listening\n")
	return nil
}

// fetch gets the page through the endpoint's DNS name from inside the
// consumer's client interface, resolving it with the consumer VPC's
// resolver.
func (d *demoRun) fetch(ctx context.Context) error {
	d.printf("\n## From inside the consumer VPC, through the endpoint's DNS name\n")
	d.resolver = netip.MustParsePrefix(demoCIDR).Addr().Next().Next().String() + ":53" // AmazonProvidedDNS: base + 2
	if err := poll(ctx, d.cfg.Timeout, func() (bool, error) { return netns.Exists(d.clientNS), nil }); err != nil {
		return fmt.Errorf("the data plane did not create namespace %s for the client %s: %w", d.clientNS, d.clientENI, err)
	}
	var addrs []string
	if err := d.step("consumer", fmt.Sprintf("isthmus exec --eni %s -- dig +short %s", d.clientENI, d.dnsName), func() (string, error) {
		var last error
		err := poll(ctx, d.cfg.Timeout, func() (bool, error) {
			addrs, last = isthdns.LookupIn(d.clientNS, d.resolver, d.dnsName)
			return last == nil && len(addrs) > 0, nil
		})
		if err != nil {
			return "", fmt.Errorf("resolving %s with the VPC resolver %s: %v (%w)", d.dnsName, d.resolver, last, err)
		}
		return strings.Join(addrs, ", ") + " (the endpoint's address in the consumer subnet)", nil
	}); err != nil {
		return err
	}
	url := "http://" + d.dnsName + "/"
	var page string
	if err := d.step("consumer", fmt.Sprintf("isthmus exec --eni %s -- curl -s %s", d.clientENI, url), func() (string, error) {
		client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
				host, port, err := net.SplitHostPort(hostport)
				if err != nil {
					return nil, err
				}
				ips, err := isthdns.LookupIn(d.clientNS, d.resolver, host)
				if err != nil {
					return nil, err
				}
				if len(ips) == 0 {
					return nil, fmt.Errorf("%s: no address", host)
				}
				return netns.Dial(d.clientNS, "tcp4", net.JoinHostPort(ips[0], port), 2*time.Second)
			},
		}}
		var last error
		err := poll(ctx, d.cfg.Timeout, func() (bool, error) {
			resp, err := client.Get(url)
			if err != nil {
				last = err
				return false, nil
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != http.StatusOK {
				last = fmt.Errorf("%s %v", resp.Status, err)
				return false, nil
			}
			page = string(b)
			return true, nil
		})
		if err != nil {
			return "", fmt.Errorf("GET %s from %s: %v (%w); %s", url, d.clientNS, last, err, d.state(ctx))
		}
		return "200 OK", nil
	}); err != nil {
		return err
	}
	d.printf("\n%s\n", indent(page))
	d.mu.Lock()
	seen := ""
	if len(d.peers) > 0 {
		seen = d.peers[len(d.peers)-1]
	}
	d.mu.Unlock()
	host, _, _ := net.SplitHostPort(seen)
	isLB := false
	for _, ip := range d.lbIPs {
		isLB = isLB || ip == host
	}
	if !isLB {
		return fmt.Errorf("the target saw the request come from %q, not from the load balancer's private IP %s", seen, strings.Join(d.lbIPs, ", "))
	}
	d.printf("The web server saw the request come from %s: the network load balancer's private IP\n"+
		"in the provider's subnet. The consumer's own address (%s, which the provider VPC\n"+
		"also uses) never reached the provider, and nothing routes between the two VPCs.\n", host, demoClientIP)
	return nil
}

// state describes what the API says of the path, for a failure message.
func (d *demoRun) state(ctx context.Context) string {
	var s []string
	if o, err := d.ec2C.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{d.endpointID}}); err == nil && len(o.VpcEndpoints) == 1 {
		s = append(s, "endpoint "+string(o.VpcEndpoints[0].State))
	}
	if o, err := d.elbP.DescribeTargetHealth(ctx, &elb.DescribeTargetHealthInput{TargetGroupArn: &d.tgARN}); err == nil {
		for _, h := range o.TargetHealthDescriptions {
			if h.TargetHealth != nil {
				s = append(s, fmt.Sprintf("target %s %s %s", aws.ToString(h.Target.Id), h.TargetHealth.State, h.TargetHealth.Reason))
			}
		}
	}
	return "the API says: " + strings.Join(s, "; ")
}

// inspect prints how to look at what the demo built.
func (d *demoRun) inspect() {
	d.printf("\nTo look around (as root):\n")
	d.printf("  ip netns list | grep '^%s-'\n", d.prefix)
	d.printf("  ip netns exec %s curl -s http://%s/   # the consumer's client\n", d.clientNS, d.dnsName)
	d.printf("  ip netns exec %s nft list ruleset      # the endpoint's NAT\n", dataplane.ENINamespace(d.prefix, d.endpointENI()))
	d.printf("  AWS_ACCESS_KEY_ID=%s aws --endpoint-url %s ec2 describe-vpc-endpoints\n", d.cfg.Consumer, d.url)
}

func (d *demoRun) endpointENI() string {
	o, err := d.ec2C.DescribeVpcEndpoints(context.Background(), &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{d.endpointID}})
	if err != nil || len(o.VpcEndpoints) != 1 || len(o.VpcEndpoints[0].NetworkInterfaceIds) == 0 {
		return "<endpoint eni>"
	}
	return o.VpcEndpoints[0].NetworkInterfaceIds[0]
}

// cleanup deletes what build made, in reverse, and checks that the API
// and the kernel hold none of it.
func (d *demoRun) cleanup(ctx context.Context) error {
	d.printf("\n## Cleaning up\n")
	if d.srv != nil {
		d.srv.Close()
		d.srv = nil
	}
	var errs []error
	do := func(who, cli string, skip bool, fn func() error) {
		if skip {
			return
		}
		if err := d.step(who, cli, func() (string, error) {
			// Deletions whose dependents are still going away are retried.
			return "", poll(ctx, 20*time.Second, func() (bool, error) {
				err := fn()
				if dependency(err) {
					return false, nil
				}
				return true, err
			})
		}); err != nil {
			errs = append(errs, err)
		}
	}
	var endpointENIs []string
	if d.endpointID != "" {
		if o, err := d.ec2C.DescribeVpcEndpoints(ctx, &ec2.DescribeVpcEndpointsInput{VpcEndpointIds: []string{d.endpointID}}); err == nil && len(o.VpcEndpoints) == 1 {
			endpointENIs = o.VpcEndpoints[0].NetworkInterfaceIds
		}
	}
	do("consumer", "aws ec2 delete-vpc-endpoints --vpc-endpoint-ids "+d.endpointID, d.endpointID == "", func() error {
		o, err := d.ec2C.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{d.endpointID}})
		if err == nil && len(o.Unsuccessful) > 0 && o.Unsuccessful[0].Error != nil {
			err = fmt.Errorf("%s: %s", aws.ToString(o.Unsuccessful[0].Error.Code), aws.ToString(o.Unsuccessful[0].Error.Message))
		}
		return err
	})
	do("consumer", "aws ec2 delete-network-interface --network-interface-id "+d.clientENI, d.clientENI == "", func() error {
		_, err := d.ec2C.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: &d.clientENI})
		return err
	})
	do("consumer", "aws ec2 delete-security-group --group-id "+d.sgC, d.sgC == "", func() error {
		_, err := d.ec2C.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: &d.sgC})
		return err
	})
	do("consumer", "aws ec2 delete-subnet --subnet-id "+d.subC, d.subC == "", func() error {
		_, err := d.ec2C.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: &d.subC})
		return err
	})
	do("consumer", "aws ec2 delete-vpc --vpc-id "+d.vpcC, d.vpcC == "", func() error {
		_, err := d.ec2C.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: &d.vpcC})
		return err
	})
	do("provider", "aws ec2 delete-vpc-endpoint-service-configurations --service-ids "+d.svcID, d.svcID == "", func() error {
		o, err := d.ec2P.DeleteVpcEndpointServiceConfigurations(ctx, &ec2.DeleteVpcEndpointServiceConfigurationsInput{ServiceIds: []string{d.svcID}})
		if err == nil && len(o.Unsuccessful) > 0 && o.Unsuccessful[0].Error != nil {
			err = &smithy.GenericAPIError{Code: aws.ToString(o.Unsuccessful[0].Error.Code), Message: aws.ToString(o.Unsuccessful[0].Error.Message)}
		}
		return err
	})
	do("provider", "aws elbv2 delete-listener --listener-arn "+d.listenerARN, d.listenerARN == "", func() error {
		_, err := d.elbP.DeleteListener(ctx, &elb.DeleteListenerInput{ListenerArn: &d.listenerARN})
		return err
	})
	do("provider", "aws elbv2 delete-load-balancer --load-balancer-arn "+d.lbARN, d.lbARN == "", func() error {
		_, err := d.elbP.DeleteLoadBalancer(ctx, &elb.DeleteLoadBalancerInput{LoadBalancerArn: &d.lbARN})
		return err
	})
	do("provider", "aws elbv2 delete-target-group --target-group-arn "+d.tgARN, d.tgARN == "", func() error {
		_, err := d.elbP.DeleteTargetGroup(ctx, &elb.DeleteTargetGroupInput{TargetGroupArn: &d.tgARN})
		return err
	})
	do("provider", "aws ec2 delete-network-interface --network-interface-id "+d.targetENI, d.targetENI == "", func() error {
		_, err := d.ec2P.DeleteNetworkInterface(ctx, &ec2.DeleteNetworkInterfaceInput{NetworkInterfaceId: &d.targetENI})
		return err
	})
	do("provider", "aws ec2 delete-security-group --group-id "+d.sgP, d.sgP == "", func() error {
		_, err := d.ec2P.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: &d.sgP})
		return err
	})
	do("provider", "aws ec2 delete-subnet --subnet-id "+d.subP, d.subP == "", func() error {
		_, err := d.ec2P.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: &d.subP})
		return err
	})
	do("provider", "aws ec2 delete-vpc --vpc-id "+d.vpcP, d.vpcP == "", func() error {
		_, err := d.ec2P.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: &d.vpcP})
		return err
	})
	if len(errs) > 0 {
		return fmt.Errorf("cleanup: %w", errors.Join(errs...))
	}
	return d.checkGone(ctx, endpointENIs)
}

// checkGone checks that neither account has anything the demo made and
// that the data plane removed its namespaces.
func (d *demoRun) checkGone(ctx context.Context, endpointENIs []string) error {
	return d.step("both", "aws ec2 describe-vpcs; aws ec2 describe-network-interfaces; aws elbv2 describe-load-balancers; ip netns list", func() (string, error) {
		var left []string
		for who, c := range map[string]*ec2.Client{"provider": d.ec2P, "consumer": d.ec2C} {
			vs, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
			if err != nil {
				return "", err
			}
			for _, v := range vs.Vpcs {
				if id := aws.ToString(v.VpcId); id == d.vpcP || id == d.vpcC {
					left = append(left, who+" "+id)
				}
			}
			ns, err := c.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{})
			if err != nil {
				return "", err
			}
			for _, n := range ns.NetworkInterfaces {
				if v := aws.ToString(n.VpcId); v == d.vpcP || v == d.vpcC {
					left = append(left, who+" "+aws.ToString(n.NetworkInterfaceId))
				}
			}
		}
		lbs, err := d.elbP.DescribeLoadBalancers(ctx, &elb.DescribeLoadBalancersInput{})
		if err != nil {
			return "", err
		}
		for _, lb := range lbs.LoadBalancers {
			if aws.ToString(lb.LoadBalancerArn) == d.lbARN {
				left = append(left, "load balancer "+d.lbARN)
			}
		}
		if len(left) > 0 {
			return "", fmt.Errorf("still described: %s", strings.Join(left, ", "))
		}
		// The data plane removes the namespaces shortly after.
		var names []string
		for _, id := range append([]string{d.targetENI, d.clientENI}, endpointENIs...) {
			if id != "" {
				names = append(names, dataplane.ENINamespace(d.prefix, id))
			}
		}
		for _, id := range []string{d.vpcP, d.vpcC} {
			if id != "" {
				names = append(names, dataplane.VpcNamespace(d.prefix, id))
			}
		}
		var remaining []string
		err = poll(ctx, d.cfg.Timeout, func() (bool, error) {
			remaining = remaining[:0]
			for _, n := range names {
				if netns.Exists(n) {
					remaining = append(remaining, n)
				}
			}
			return len(remaining) == 0, nil
		})
		if err != nil {
			return "", fmt.Errorf("namespaces still there: %s", strings.Join(remaining, ", "))
		}
		if d.cfg.Endpoint == "" {
			// Our own server: no namespace of its prefix is left at all.
			err = poll(ctx, d.cfg.Timeout, func() (bool, error) {
				remaining, err = netns.List(d.prefix + "-")
				return len(remaining) == 0, err
			})
			if err != nil || len(remaining) > 0 {
				return "", fmt.Errorf("namespaces of %s still there: %s (%v)", d.prefix, strings.Join(remaining, ", "), err)
			}
			return fmt.Sprintf("nothing left: no object in either account, no namespace %s-*", d.prefix), nil
		}
		return fmt.Sprintf("nothing left (%d namespaces gone)", len(names)), nil
	})
}

// dependency reports whether err is AWS's answer for an object that
// others still depend on (they are going away: retry).
func dependency(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "DependencyViolation", "ResourceInUse", "InvalidNetworkInterface.InUse":
		return true
	}
	return false
}

// poll calls ok every 100ms until it says done or fails, or limit passes.
func poll(ctx context.Context, limit time.Duration, ok func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		done, err := ok()
		if err != nil || done {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gave up after %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "    " + strings.Join(lines, "\n    ")
}
