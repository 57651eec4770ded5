package peer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/havenproject/haven/raft"
)

// Development PKI: a cluster CA, a TLS certificate per node signed by it,
// and an Ed25519 signing key per node, kept as PEM files. `havend -dev`
// makes them in memory; `havend init` writes them to a directory.
//
// TLS keys are ECDSA P-256 (fast handshakes, understood by every TLS tool);
// signing keys are Ed25519 (RFC 9421's "ed25519").

// CA is a cluster's certificate authority.
type CA struct {
	Cert *x509.Certificate
	// Key is nil when only the certificate was loaded (a node needs the CA
	// certificate to verify peers, not its key).
	Key crypto.Signer
}

// Node is one node's credentials.
type Node struct {
	ID raft.NodeID
	// TLS is the node's certificate (for serving and as a client) and its
	// key.
	TLS tls.Certificate
	// Key signs the node's requests; its public half goes in every node's
	// key list.
	Key ed25519.PrivateKey
}

// Public is the node's public signing key.
func (n *Node) Public() ed25519.PublicKey { return n.Key.Public().(ed25519.PublicKey) }

// DefaultHosts are the names every development certificate is valid for.
var DefaultHosts = []string{"127.0.0.1", "::1", "localhost"}

// certValidity is long: a development cluster should not stop working.
const certValidity = 10 * 365 * 24 * time.Hour

// NewCA makes a new certificate authority.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Haven"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n
}

// Pool is a certificate pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// NewNode makes node id's credentials: a TLS certificate for
// DefaultHosts plus hosts (IP addresses or DNS names), good for serving and
// as a client, and a fresh Ed25519 signing key.
func (ca *CA) NewNode(id raft.NodeID, hosts ...string) (*Node, error) {
	if ca.Key == nil {
		return nil, errors.New("peer: the CA's key is not loaded")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "haven-node-" + keyID(id), Organization: []string{"Haven"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	seen := map[string]bool{}
	for _, h := range append(append([]string(nil), DefaultHosts...), hosts...) {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	_, sign, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &Node{
		ID:  id,
		TLS: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		Key: sign,
	}, nil
}

// ServerTLSConfig is the peer listener's TLS: the node's certificate, and
// peers must present a certificate from the cluster CA (mutual TLS; the
// request signatures are checked on top).
func ServerTLSConfig(ca *x509.CertPool, node *Node) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{node.TLS},
		ClientCAs:    ca,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

// ClientTLSConfig is for connections to peers: their certificate must come
// from the cluster CA, and this node shows its own.
func ClientTLSConfig(ca *x509.CertPool, node *Node) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{node.TLS},
		RootCAs:      ca,
		MinVersion:   tls.VersionTLS13,
	}
}

// Files in a directory written by Save (havend init: the CA's in the
// cluster directory, each node's in its own).
const (
	CACertFile   = "ca.crt"
	CAKeyFile    = "ca.key"
	NodeCertFile = "node.crt"
	NodeKeyFile  = "node.key"
	SignKeyFile  = "sign.key"
	SignPubFile  = "sign.pub"
)

// Save writes the CA's certificate and, if loaded, its key into dir.
func (ca *CA) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, CACertFile), "CERTIFICATE", ca.Cert.Raw, 0o644); err != nil {
		return err
	}
	if ca.Key == nil {
		return nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, CAKeyFile), "PRIVATE KEY", der, 0o600)
}

// LoadCA reads a CA saved by Save; the key is loaded if its file exists.
func LoadCA(dir string) (*CA, error) {
	der, err := readPEM(filepath.Join(dir, CACertFile), "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("peer: %s: %w", CACertFile, err)
	}
	ca := &CA{Cert: cert}
	der, err = readPEM(filepath.Join(dir, CAKeyFile), "PRIVATE KEY")
	if errors.Is(err, os.ErrNotExist) {
		return ca, nil
	}
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("peer: %s: %w", CAKeyFile, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("peer: %s holds no signing key", CAKeyFile)
	}
	ca.Key = signer
	return ca, nil
}

// Save writes the node's certificate, TLS key, signing key and public
// signing key into dir.
func (n *Node) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, NodeCertFile), "CERTIFICATE", n.TLS.Certificate[0], 0o644); err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(n.TLS.PrivateKey)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, NodeKeyFile), "PRIVATE KEY", der, 0o600); err != nil {
		return err
	}
	der, err = x509.MarshalPKCS8PrivateKey(n.Key)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, SignKeyFile), "PRIVATE KEY", der, 0o600); err != nil {
		return err
	}
	return SavePublicKey(filepath.Join(dir, SignPubFile), n.Public())
}

// LoadNode reads node id's credentials saved by Save.
func LoadNode(dir string, id raft.NodeID) (*Node, error) {
	certDER, err := readPEM(filepath.Join(dir, NodeCertFile), "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	keyDER, err := readPEM(filepath.Join(dir, NodeKeyFile), "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	tlsKey, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return nil, fmt.Errorf("peer: %s: %w", NodeKeyFile, err)
	}
	leaf, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("peer: %s: %w", NodeCertFile, err)
	}
	signDER, err := readPEM(filepath.Join(dir, SignKeyFile), "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	signKey, err := x509.ParsePKCS8PrivateKey(signDER)
	if err != nil {
		return nil, fmt.Errorf("peer: %s: %w", SignKeyFile, err)
	}
	ed, ok := signKey.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("peer: %s is not an Ed25519 key", SignKeyFile)
	}
	cert := tls.Certificate{Certificate: [][]byte{certDER}, PrivateKey: tlsKey, Leaf: leaf}
	return &Node{ID: id, TLS: cert, Key: ed}, nil
}

// SavePublicKey writes an Ed25519 public key as a PEM "PUBLIC KEY".
func SavePublicKey(path string, pub ed25519.PublicKey) error {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	return writePEM(path, "PUBLIC KEY", der, 0o644)
}

// LoadPublicKey reads what SavePublicKey wrote.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	der, err := readPEM(path, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	return ParsePublicKey(der)
}

// ParsePublicKey parses a DER (PKIX) Ed25519 public key.
func ParsePublicKey(der []byte) (ed25519.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	ed, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("peer: not an Ed25519 public key")
	}
	return ed, nil
}

// EncodePublicKey is pub as PEM text (for a config file's key list).
func EncodePublicKey(pub ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// DecodePublicKey parses EncodePublicKey's text.
func DecodePublicKey(text []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(text)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("peer: no PEM PUBLIC KEY")
	}
	return ParsePublicKey(block.Bytes)
}

func writePEM(path, kind string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
	// Write then rename, so a crash never leaves half a key.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readPEM(path, kind string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != kind {
		return nil, fmt.Errorf("peer: %s: no PEM %s", path, kind)
	}
	return block.Bytes, nil
}

// DevCluster makes a CA and credentials for nodes ids, for tests and
// `havend -dev`.
func DevCluster(ids ...raft.NodeID) (*CA, map[raft.NodeID]*Node, error) {
	ca, err := NewCA("Haven development CA")
	if err != nil {
		return nil, nil, err
	}
	nodes := make(map[raft.NodeID]*Node, len(ids))
	for _, id := range ids {
		if nodes[id], err = ca.NewNode(id); err != nil {
			return nil, nil, err
		}
	}
	return ca, nodes, nil
}
