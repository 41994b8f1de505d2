package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/store/bolt"
)

// The admin socket is a Unix socket in the data dir (mode 0600, so only its
// owner may use it) serving a small JSON API for what has no AWS action:
// managing accounts while the server runs.
//
//	GET  /accounts                 → []AccountInfo
//	POST /accounts {"name": "..."} → AccountInfo with its new key

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

type adminServer struct {
	hs   *http.Server
	path string
}

func (a *adminServer) Close() error {
	err := a.hs.Close()
	os.Remove(a.path)
	return err
}

func serveAdmin(path string, cloud *core.Cloud, log *slog.Logger) (*adminServer, error) {
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
		infos, err := listAccounts(cloud)
		writeJSON(w, infos, err)
	})
	mux.HandleFunc("POST /accounts", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Name string }
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
			http.Error(w, "bad request body", http.StatusBadRequest)
			return
		}
		info, err := createAccount(cloud, req.Name)
		writeJSON(w, info, err)
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin socket", "err", err)
		}
	}()
	return &adminServer{hs: hs, path: path}, nil
}

func writeJSON(w http.ResponseWriter, v any, err error) {
	if err != nil {
		status := http.StatusInternalServerError
		if _, ok := awserr.As(err); ok {
			status = http.StatusBadRequest
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

// AdminClient talks to a running server's admin socket, or, when no server
// runs, opens the data dir's store itself.
type AdminClient struct {
	DataDir string
}

func (c *AdminClient) do(method string, body any, out any) error {
	sock := filepath.Join(c.DataDir, AdminSocket)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}, Timeout: 10 * time.Second}
	var rd *jsonBody
	if body != nil {
		rd = newJSONBody(body)
	}
	req, err := http.NewRequest(method, "http://isthmus/accounts", rd.reader())
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var msg [512]byte
		n, _ := resp.Body.Read(msg[:])
		return fmt.Errorf("%s", string(msg[:n]))
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
