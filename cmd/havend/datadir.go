package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// dataDir is a node's directory: a lock, the node's identity, its signing
// key, the address book of the members, and one WAL directory per group.
//
//	LOCK            flock'd while a process has the directory open
//	identity.json   {"id": "n1"}: the id this directory belongs to
//	sign.key        Ed25519 signing key (PKCS #8 PEM), unless -key says
//	members.json    haven/http/peer address of every member, and of the
//	                last members removed (with the index of their removal)
//	group-1/        raft/wal: segments and snapshots of Raft group 1
type dataDir struct {
	path string
	lock *os.File
}

type identity struct {
	ID string `json:"id"`
}

// openDataDir creates and locks dir. A second process gets an error.
func openDataDir(path string) (*dataDir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(path, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another process (%w)", path, err)
	}
	return &dataDir{path: path, lock: f}, nil
}

func (d *dataDir) close() {
	_ = syscall.Flock(int(d.lock.Fd()), syscall.LOCK_UN)
	d.lock.Close()
}

func (d *dataDir) groupDir(group uint64) string {
	return filepath.Join(d.path, fmt.Sprintf("group-%d", group))
}

// identity returns the id stored in the directory, writing id there if
// the directory has none. A directory never changes hands: a node started
// on another node's directory refuses to run.
func (d *dataDir) identity(id string) (fresh bool, err error) {
	p := filepath.Join(d.path, "identity.json")
	data, err := os.ReadFile(p)
	switch {
	case err == nil:
		var got identity
		if err := json.Unmarshal(data, &got); err != nil {
			return false, fmt.Errorf("%s: %w", p, err)
		}
		if got.ID != id {
			return false, fmt.Errorf("data dir %s belongs to node %s, not %s", d.path, got.ID, id)
		}
		return false, nil
	case errors.Is(err, fs.ErrNotExist):
		b, _ := json.Marshal(identity{ID: id})
		return true, writeFileAtomic(p, append(b, '\n'))
	}
	return false, err
}

// signingKey loads the node's Ed25519 key from path, making one if the
// file does not exist.
func signingKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return key, writeKeyPEM(path, key)
	}
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", path)
	}
	return key, nil
}

func writeKeyPEM(path string, key ed25519.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func writePublicKeyPEM(path string, key ed25519.PublicKey) error {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func readPublicKeyPEM(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 public key", path)
	}
	return pub, nil
}

// memberAddrs are the three addresses of one member.
type memberAddrs struct {
	Haven string `json:"haven"`
	HTTP  string `json:"http"`
	Peer  string `json:"peer"`
	// Removed is, on an entry of a member no longer, the index of the
	// change that removed it (node.gone).
	Removed uint64 `json:"removed,omitempty"`
}

func (d *dataDir) loadMembers() (map[string]memberAddrs, error) {
	data, err := os.ReadFile(filepath.Join(d.path, "members.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]memberAddrs{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]memberAddrs{}
	return m, json.Unmarshal(data, &m)
}

// saveMembers keeps the address book: until raft.ConfState carries the
// addresses, a learner's address reaches the other nodes only in its
// ConfChange entry, which compaction drops.
func (d *dataDir) saveMembers(m map[string]memberAddrs) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(d.path, "members.json"), append(b, '\n'))
}

// writeFileAtomic writes data to a temporary file, fsyncs it and renames
// it over path, so a crash leaves the old file or the new one.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
