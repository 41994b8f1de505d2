package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/dataplane"
	"github.com/isthmusnet/isthmus/store/bolt"
)

// The admin socket is a Unix socket in the data dir (mode 0600, so only its
// owner may use it) serving a small JSON API for what has no AWS action:
// managing accounts while the server runs, and what `isthmus exec` needs.
// It acts for the host's operator: it sees every account's objects.
//
//	GET    /accounts                 → []AccountInfo
//	POST   /accounts {"name": "..."} → AccountInfo with its new key
//	GET    /interfaces/{id}          → InterfaceInfo: where an interface
//	                                   lives on this host (exec --eni)
//	POST   /exec/interfaces ExecRequest
//	                                 → InterfaceInfo of a new interface, once
//	                                   the data plane has applied it
//	DELETE /exec/interfaces/{id}     → {} once its kernel state is gone
//
// An interface made for `isthmus exec --subnet` belongs to the subnet's
// owner and is tagged with the process that asked for it (TagExecPID and
// TagExecStart: its pid and start time as this daemon sees them, from the
// socket's peer credentials, so no client can claim another's). isthmus
// exec deletes it when its command ends; should isthmus exec itself die
// first (kill -9), the daemon deletes every such interface whose process
// is gone, at start and every ExecCollectInterval.

// AccountInfo is an account as the admin API shows it.
type AccountInfo struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Admin      bool     `json:"admin,omitempty"`
	AccessKeys []string `json:"accessKeys,omitempty"`
	// Secret is set only in the answer to a create.
	AccessKeyID string `json:"accessKeyId,omitempty"`
	Secret      string `json:"secretAccessKey,omitempty"`
}

// InterfaceInfo is a network interface as the admin API shows it: where its
// namespace is and whether the data plane has applied it.
type InterfaceInfo struct {
	ID        string `json:"id"`
	Owner     string `json:"owner"`
	Region    string `json:"region"`
	VpcID     string `json:"vpcId"`
	SubnetID  string `json:"subnetId"`
	PrivateIP string `json:"privateIp"`
	DNSName   string `json:"privateDnsName"`
	// Namespace is its network namespace (the `ip netns exec` name);
	// Resolver the VPC resolver its resolv.conf names.
	Namespace string `json:"namespace"`
	Resolver  string `json:"resolver,omitempty"`
	// State is the data plane's: ready, failed or invalid (Error says
	// why), or "" before it has seen the interface.
	State string `json:"state,omitempty"`
	Error string `json:"error,omitempty"`
}

// ExecRequest asks for an interface for the duration of a command.
type ExecRequest struct {
	SubnetID       string   `json:"subnetId"`
	SecurityGroups []string `json:"securityGroupIds,omitempty"`
	// Command names the command in the interface's description.
	Command string `json:"command,omitempty"`
}

// Tags of the interfaces of isthmus exec --subnet.
const (
	TagExecPID   = "isthmus:exec:pid"
	TagExecStart = "isthmus:exec:start"
)

// ExecCollectInterval is how often the daemon looks for interfaces of
// isthmus exec processes that died.
const ExecCollectInterval = 5 * time.Second

// adminDeps is what the admin socket serves from.
type adminDeps struct {
	cloud  *core.Cloud
	rec    *dataplane.Reconciler // nil without a data plane
	prefix string
	log    *slog.Logger
}

type adminServer struct {
	hs   *http.Server
	path string
}

func (a *adminServer) Close() error {
	err := a.hs.Close()
	os.Remove(a.path)
	return err
}

func serveAdmin(path string, d *adminDeps) (*adminServer, error) {
	os.Remove(path) // a stale socket of a previous run; the DB lock proves no one else serves
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /accounts", func(w http.ResponseWriter, r *http.Request) {
		infos, err := listAccounts(d.cloud)
		writeJSON(w, infos, err)
	})
	mux.HandleFunc("POST /accounts", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Name string }
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
			http.Error(w, "bad request body", http.StatusBadRequest)
			return
		}
		info, err := createAccount(d.cloud, req.Name)
		writeJSON(w, info, err)
	})
	mux.HandleFunc("GET /interfaces/{id}", func(w http.ResponseWriter, r *http.Request) {
		info, err := d.interfaceInfo(r.PathValue("id"))
		writeJSON(w, info, err)
	})
	mux.HandleFunc("POST /exec/interfaces", func(w http.ResponseWriter, r *http.Request) {
		var req ExecRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
			http.Error(w, "bad request body", http.StatusBadRequest)
			return
		}
		info, err := d.createExecInterface(r.Context(), req, peerOf(r.Context()))
		writeJSON(w, info, err)
	})
	mux.HandleFunc("DELETE /exec/interfaces/{id}", func(w http.ResponseWriter, r *http.Request) {
		err := d.deleteExecInterface(r.Context(), r.PathValue("id"))
		writeJSON(w, struct{}{}, err)
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ConnContext: withPeer}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("admin socket", "err", err)
		}
	}()
	return &adminServer{hs: hs, path: path}, nil
}

// errNoDataplane refuses what needs the Linux data plane.
var errNoDataplane = errors.New("the server runs without a data plane (--dataplane none): interfaces have no namespaces")

func writeJSON(w http.ResponseWriter, v any, err error) {
	if err != nil {
		status := http.StatusInternalServerError
		if _, ok := awserr.As(err); ok {
			status = http.StatusBadRequest
		} else if errors.Is(err, errNoDataplane) {
			status = http.StatusConflict
		}
		http.Error(w, err.Error(), status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func listAccounts(cloud *core.Cloud) ([]AccountInfo, error) {
	accts, err := cloud.Accounts()
	if err != nil {
		return nil, err
	}
	out := []AccountInfo{}
	for _, a := range accts {
		keys, err := cloud.AccessKeys(a.ID)
		if err != nil {
			return nil, err
		}
		info := AccountInfo{ID: a.ID, Name: a.Name, Admin: a.Admin}
		for _, k := range keys {
			info.AccessKeys = append(info.AccessKeys, k.ID)
		}
		out = append(out, info)
	}
	return out, nil
}

func createAccount(cloud *core.Cloud, name string) (*AccountInfo, error) {
	a, k, err := cloud.CreateAccount(name, false)
	if err != nil {
		return nil, err
	}
	return &AccountInfo{ID: a.ID, Name: a.Name, AccessKeys: []string{k.ID}, AccessKeyID: k.ID, Secret: k.Secret}, nil
}

// interfaceInfo describes an interface of any account.
func (d *adminDeps) interfaceInfo(id string) (*InterfaceInfo, error) {
	if d.rec == nil {
		return nil, errNoDataplane
	}
	n, err := d.cloud.LocateNetworkInterface(id)
	if err != nil {
		return nil, err
	}
	info := &InterfaceInfo{
		ID: n.ID, Owner: n.Owner, Region: n.Region, VpcID: n.VpcID, SubnetID: n.SubnetID,
		PrivateIP: n.PrivateIP, DNSName: n.PrivateDNSName(),
		Namespace: dataplane.ENINamespace(d.prefix, n.ID),
	}
	vpcs, _, err := d.cloud.DescribeVpcs(core.Caller{Account: n.Owner, Region: n.Region}, []string{n.VpcID}, nil, core.Page{})
	if err == nil && len(vpcs) == 1 {
		if p, ok := core.ParseCIDR(vpcs[0].CidrBlock); ok {
			info.Resolver = dataplane.ResolverAddr(p).String()
		}
	}
	if st, ok := d.rec.Status(n.ID); ok {
		info.State, info.Error = st.State, st.Error
	}
	return info, nil
}

// settle waits until the data plane has applied everything the store
// holds now.
func (d *adminDeps) settle(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return d.rec.WaitApplied(ctx, d.cloud.Store().Rev())
}

// createExecInterface creates an interface in a subnet as the subnet's
// owner, tagged with the requesting process, and returns it once the data
// plane has applied it (or deletes it again and says why it could not).
func (d *adminDeps) createExecInterface(ctx context.Context, req ExecRequest, peer peerProcess) (*InterfaceInfo, error) {
	if d.rec == nil {
		return nil, errNoDataplane
	}
	if req.SubnetID == "" {
		return nil, awserr.MissingParameter("SubnetId")
	}
	s, err := d.cloud.LocateSubnet(req.SubnetID)
	if err != nil {
		return nil, err
	}
	who := core.Caller{Account: s.Owner, Region: s.Region}
	tags := []core.Tag{{Key: "Name", Value: "isthmus exec"}}
	if peer.pid > 0 {
		tags = append(tags, core.Tag{Key: TagExecPID, Value: strconv.Itoa(peer.pid)}, core.Tag{Key: TagExecStart, Value: peer.start})
	}
	desc := "isthmus exec"
	if req.Command != "" {
		desc += ": " + req.Command
	}
	if len(desc) > 255 {
		desc = desc[:255]
	}
	n, err := d.cloud.CreateNetworkInterface(who, core.CreateNetworkInterfaceInput{
		SubnetID:    s.ID,
		Groups:      req.SecurityGroups,
		Description: desc,
		TagSpecs:    []core.TagSpec{{ResourceType: "network-interface", Tags: tags}},
	})
	if err != nil {
		return nil, err
	}
	d.log.Info("exec: interface created", "eni", n.ID, "subnet", s.ID, "pid", peer.pid)
	fail := func(err error) (*InterfaceInfo, error) {
		if derr := d.cloud.DeleteNetworkInterface(who, n.ID); derr != nil {
			d.log.Error("exec: deleting an interface that failed", "eni", n.ID, "error", derr)
		}
		return nil, err
	}
	if err := d.settle(ctx); err != nil {
		return fail(err)
	}
	info, err := d.interfaceInfo(n.ID)
	if err != nil {
		return fail(err)
	}
	if info.State != dataplane.StateReady {
		return fail(fmt.Errorf("the data plane could not set up %s (%s): %s", n.ID, info.State, info.Error))
	}
	return info, nil
}

// deleteExecInterface deletes an interface of isthmus exec and waits
// until its namespace is gone.
func (d *adminDeps) deleteExecInterface(ctx context.Context, id string) error {
	if d.rec == nil {
		return errNoDataplane
	}
	n, err := d.cloud.LocateNetworkInterface(id)
	if err != nil {
		return err
	}
	if tagValue(n.Tags, TagExecPID) == "" {
		return awserr.New("OperationNotPermitted", "Network interface '%s' was not created by isthmus exec.", id)
	}
	if err := d.cloud.DeleteNetworkInterface(core.Caller{Account: n.Owner, Region: n.Region}, id); err != nil {
		return err
	}
	d.log.Info("exec: interface deleted", "eni", id)
	return d.settle(ctx)
}

func tagValue(tags []core.Tag, key string) string {
	for _, t := range tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}

// collectExecInterfaces deletes the interfaces of isthmus exec processes
// that are gone (killed before they could clean up), at once and then
// every ExecCollectInterval, until ctx ends.
func collectExecInterfaces(ctx context.Context, d *adminDeps) {
	t := time.NewTicker(ExecCollectInterval)
	defer t.Stop()
	for {
		d.collectExecOnce()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *adminDeps) collectExecOnce() {
	top, _, err := d.cloud.Topology()
	if err != nil {
		d.log.Error("exec: listing interfaces", "error", err)
		return
	}
	for _, n := range top.NetworkInterfaces {
		pid, err := strconv.Atoi(tagValue(n.Tags, TagExecPID))
		if err != nil || processAlive(pid, tagValue(n.Tags, TagExecStart)) {
			continue
		}
		err = d.cloud.DeleteNetworkInterface(core.Caller{Account: n.Owner, Region: n.Region}, n.ID)
		if err != nil {
			d.log.Error("exec: deleting the interface of a process that is gone", "eni", n.ID, "pid", pid, "error", err)
			continue
		}
		d.log.Info("exec: deleted the interface of a process that is gone", "eni", n.ID, "pid", pid)
	}
}

// AdminClient talks to a running server's admin socket, or, when no server
// runs, opens the data dir's store itself.
type AdminClient struct {
	DataDir string
}

// AdminError is a refusal of the admin socket.
type AdminError struct {
	Status  int
	Message string
}

func (e *AdminError) Error() string { return e.Message }

func (c *AdminClient) do(method string, body any, out any) error {
	return c.call(method, "/accounts", body, out)
}

func (c *AdminClient) call(method, path string, body any, out any) error {
	sock := filepath.Join(c.DataDir, AdminSocket)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}, Timeout: time.Minute}
	var rd *jsonBody
	if body != nil {
		rd = newJSONBody(body)
	}
	req, err := http.NewRequest(method, "http://isthmus"+path, rd.reader())
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return &AdminError{Status: resp.StatusCode, Message: strings.TrimSpace(string(msg))}
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// offline runs fn over the data dir's store when no server holds it.
func (c *AdminClient) offline(fn func(*core.Cloud) error) error {
	st, err := bolt.Open(filepath.Join(c.DataDir, DBFile), bolt.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(core.New(st, core.Options{}))
}

func serverDown(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)
}

// ServerDown reports whether err says that no server listens on the admin
// socket.
func ServerDown(err error) bool { return serverDown(err) }

// CreateAccount creates an account and returns it with its key.
func (c *AdminClient) CreateAccount(name string) (*AccountInfo, error) {
	var info AccountInfo
	err := c.do(http.MethodPost, map[string]string{"name": name}, &info)
	if err != nil && serverDown(err) {
		var ip *AccountInfo
		err = c.offline(func(cloud *core.Cloud) error {
			var err error
			ip, err = createAccount(cloud, name)
			return err
		})
		if ip != nil {
			info = *ip
		}
	}
	return &info, err
}

// Accounts lists the accounts.
func (c *AdminClient) Accounts() ([]AccountInfo, error) {
	var infos []AccountInfo
	err := c.do(http.MethodGet, nil, &infos)
	if err != nil && serverDown(err) {
		err = c.offline(func(cloud *core.Cloud) error {
			var err error
			infos, err = listAccounts(cloud)
			return err
		})
	}
	return infos, err
}

// Interface returns where an interface lives on this host.
func (c *AdminClient) Interface(id string) (*InterfaceInfo, error) {
	var info InterfaceInfo
	if err := c.call(http.MethodGet, "/interfaces/"+url.PathEscape(id), nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// CreateExecInterface creates an interface for the calling process's
// command and returns it once the data plane has applied it.
func (c *AdminClient) CreateExecInterface(req ExecRequest) (*InterfaceInfo, error) {
	var info InterfaceInfo
	if err := c.call(http.MethodPost, "/exec/interfaces", req, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// DeleteExecInterface deletes an interface CreateExecInterface made and
// returns once its kernel state is gone.
func (c *AdminClient) DeleteExecInterface(id string) error {
	var out struct{}
	return c.call(http.MethodDelete, "/exec/interfaces/"+url.PathEscape(id), nil, &out)
}
