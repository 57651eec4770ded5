package conformance

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// "the receiver ... refuses (401) a request that is unsigned" (Between nodes).
// The caller presents a real node certificate (mutual TLS), so what refuses
// it is the signature check.
func TestPeerRefusesUnsignedRequests(t *testing.T) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(clusterDir, "n1", "node.crt"), filepath.Join(clusterDir, "n1", "node.key"))
	require.NoError(t, err)
	caPEM, err := os.ReadFile(filepath.Join(clusterDir, "ca.crt"))
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(caPEM))
	hc := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}}}
	peerAddr := fmt.Sprintf("127.0.0.1:%d", base+1+100) // n2's peer listener
	for name, sig := range map[string][2]string{
		"unsigned": {"", ""},
		"garbage":  {`sig1=:AAAA:`, `sig1=("@method" "@target-uri" "date" "content-digest");created=1;keyid="n1";alg="ed25519"`},
		"old":      {`sig1=:AAAA:`, fmt.Sprintf(`sig1=("@method" "@target-uri" "date" "content-digest");created=%d;keyid="n1";alg="ed25519"`, time.Now().Add(-time.Hour).Unix())},
		"unknown":  {`sig1=:AAAA:`, fmt.Sprintf(`sig1=("@method" "@target-uri" "date" "content-digest");created=%d;keyid="n9";alg="ed25519"`, time.Now().Unix())},
	} {
		// A stream's opening (netproto/peer): the upgrade of the
		// connection, whose signature is what is checked.
		req, _ := http.NewRequest("POST", "https://"+peerAddr+"/peer/v1/stream", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "haven-peer/1")
		req.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
		if sig[0] != "" {
			req.Header.Set("Signature", sig[0])
			req.Header.Set("Signature-Input", sig[1])
		}
		resp, err := hc.Do(req)
		require.NoError(t, err, name)
		resp.Body.Close()
		require.Equal(t, 401, resp.StatusCode, name)
	}
}
