package dataplane

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// writeResolvConf writes a namespace's resolv.conf (atomically: a reader
// sees the old file or the new one).
func writeResolvConf(r ResolvConf) error {
	dir := filepath.Join(EtcNetnsDir, r.NS)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, "resolv.conf")
	if b, err := os.ReadFile(path); err == nil && string(b) == r.content() {
		return nil
	}
	tmp := path + ".isthmus-tmp"
	if err := os.WriteFile(tmp, []byte(r.content()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// removeEtcDir removes a namespace's directory in EtcNetnsDir. Missing is
// not an error.
func removeEtcDir(ns string) error {
	if ns == "" || strings.ContainsAny(ns, "/\x00") || ns == "." || ns == ".." {
		return nil
	}
	err := os.RemoveAll(filepath.Join(EtcNetnsDir, ns))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// observeEtc adds the resolv.conf of every directory of prefix in
// EtcNetnsDir to hc, including those whose namespace is gone (so that
// they are removed). A directory without a resolv.conf Isthmus wrote
// shows as a ResolvConf that matches no plan.
func observeEtc(hc *HostConfig, prefix string) error {
	ents, err := os.ReadDir(EtcNetnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix+"-") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(EtcNetnsDir, e.Name(), "resolv.conf"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		r, _ := parseResolvConf(e.Name(), string(b))
		hc.Add("", r)
	}
	return nil
}
