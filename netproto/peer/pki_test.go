package peer

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNodeCertificateNamesAndUsage(t *testing.T) {
	ca, err := NewCA("test CA")
	require.NoError(t, err)
	n, err := ca.NewNode(3, "10.0.0.7", "node3.example", "localhost")
	require.NoError(t, err)
	leaf := n.TLS.Leaf
	var ips []string
	for _, ip := range leaf.IPAddresses {
		ips = append(ips, ip.String())
	}
	require.ElementsMatch(t, []string{"127.0.0.1", "::1", "10.0.0.7"}, ips)
	require.ElementsMatch(t, []string{"localhost", "node3.example"}, leaf.DNSNames)
	for _, name := range []string{"127.0.0.1", "::1", "localhost", "node3.example", "10.0.0.7"} {
		_, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		require.NoError(t, err, name)
	}
	_, err = leaf.Verify(x509.VerifyOptions{DNSName: "other.example", Roots: ca.Pool()})
	require.Error(t, err)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err)
}

func TestSaveAndLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	ca, nodes, err := DevCluster(1, 2)
	require.NoError(t, err)
	require.NoError(t, ca.Save(dir))
	for id, n := range nodes {
		require.NoError(t, n.Save(filepath.Join(dir, keyID(id))))
	}

	loadedCA, err := LoadCA(dir)
	require.NoError(t, err)
	require.True(t, loadedCA.Cert.Equal(ca.Cert))
	require.NotNil(t, loadedCA.Key)
	// The loaded CA can still issue certificates its peers accept.
	n3, err := loadedCA.NewNode(3)
	require.NoError(t, err)
	_, err = n3.TLS.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool()})
	require.NoError(t, err)

	for id, n := range nodes {
		nodeDir := filepath.Join(dir, keyID(id))
		got, err := LoadNode(nodeDir, id)
		require.NoError(t, err)
		require.Equal(t, id, got.ID)
		require.Equal(t, n.Key, got.Key)
		require.Equal(t, n.TLS.Certificate, got.TLS.Certificate)
		pub, err := LoadPublicKey(filepath.Join(nodeDir, SignPubFile))
		require.NoError(t, err)
		require.Equal(t, n.Public(), pub)
		// Keys are not readable by others.
		for _, f := range []string{NodeKeyFile, SignKeyFile} {
			st, err := os.Stat(filepath.Join(nodeDir, f))
			require.NoError(t, err)
			require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), f)
		}
	}

	// Mutual TLS between two loaded nodes works.
	a, err := LoadNode(filepath.Join(dir, "1"), 1)
	require.NoError(t, err)
	b, err := LoadNode(filepath.Join(dir, "2"), 2)
	require.NoError(t, err)
	require.NoError(t, handshake(ServerTLSConfig(loadedCA.Pool(), a), ClientTLSConfig(loadedCA.Pool(), b), "127.0.0.1"))

	// A node's directory holds only the CA's certificate: LoadCA without
	// the key.
	nodeOnly := t.TempDir()
	require.NoError(t, (&CA{Cert: ca.Cert}).Save(nodeOnly))
	certOnly, err := LoadCA(nodeOnly)
	require.NoError(t, err)
	require.Nil(t, certOnly.Key)
	_, err = certOnly.NewNode(4)
	require.Error(t, err)
}

func TestPublicKeyText(t *testing.T) {
	_, nodes, err := DevCluster(1)
	require.NoError(t, err)
	text, err := EncodePublicKey(nodes[1].Public())
	require.NoError(t, err)
	got, err := DecodePublicKey(text)
	require.NoError(t, err)
	require.Equal(t, nodes[1].Public(), got)
	_, err = DecodePublicKey([]byte("not a key"))
	require.Error(t, err)
}

func TestLoadRefusesGarbage(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, CACertFile), []byte("garbage"), 0o644))
	_, err := LoadCA(dir)
	require.Error(t, err)
	_, err = LoadNode(dir, 1)
	require.Error(t, err)
}

// handshake runs a TLS handshake between server and client configs over
// an in-memory connection.
func handshake(server, client *tls.Config, serverName string) error {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	client = client.Clone()
	client.ServerName = serverName
	errc := make(chan error, 1)
	go func() {
		s := tls.Server(a, server)
		_ = s.SetDeadline(time.Now().Add(10 * time.Second))
		errc <- s.Handshake()
	}()
	c := tls.Client(b, client)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		return err
	}
	return <-errc
}
