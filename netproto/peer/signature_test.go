package peer

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The Ed25519 test key of RFC 9421 Appendix B.1.4.
const (
	rfcTestKeyEd25519Private = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----`
	rfcTestKeyEd25519Public = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----`
)

// RFC 9421 Appendix B.2.6, "Signing a Request Using ed25519": the exact
// signature base and signature value printed there.
const (
	rfcB26Base = `"date": Tue, 20 Apr 2021 02:07:55 GMT
"@method": POST
"@path": /foo
"@authority": example.com
"content-type": application/json
"content-length": 18
"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`
	rfcB26SignatureInput = `sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`
	rfcB26Signature      = `sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:`
)

func rfcTestKeys(t *testing.T) (ed25519.PrivateKey, ed25519.PublicKey) {
	block, _ := pem.Decode([]byte(rfcTestKeyEd25519Private))
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	block, _ = pem.Decode([]byte(rfcTestKeyEd25519Public))
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	require.NoError(t, err)
	return priv.(ed25519.PrivateKey), pub.(ed25519.PublicKey)
}

// rfcB2Request is the test request of RFC 9421 Appendix B.2 (§B.2's
// "test-request"), as far as B.2.6's components see it.
func rfcB2Request() *httpMessage {
	u, _ := url.Parse("http://example.com/foo?param=Value&Pet=dog")
	h := http.Header{}
	h.Set("Host", "example.com")
	h.Set("Date", "Tue, 20 Apr 2021 02:07:55 GMT")
	h.Set("Content-Type", "application/json")
	h.Set("Content-Digest", "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:")
	h.Set("Content-Length", "18")
	return &httpMessage{method: "POST", target: u, header: h}
}

var rfcB26Components = []string{"date", "@method", "@path", "@authority", "content-type", "content-length"}

func TestRFC9421B26SignatureBase(t *testing.T) {
	params := signatureParams(rfcB26Components, 1618884473, "test-key-ed25519", "", "")
	require.Equal(t, rfcB26SignatureInput, "sig-b26="+params)
	base, err := signatureBase(rfcB2Request(), rfcB26Components, params)
	require.NoError(t, err)
	require.Equal(t, rfcB26Base, string(base))
}

func TestRFC9421B26Signature(t *testing.T) {
	priv, pub := rfcTestKeys(t)
	require.Equal(t, pub, priv.Public())
	// Ed25519 is deterministic, so our signature must be the RFC's, byte for
	// byte.
	sig := ed25519.Sign(priv, []byte(rfcB26Base))
	require.Equal(t, rfcB26Signature, "sig-b26=:"+base64.StdEncoding.EncodeToString(sig)+":")

	// And our verifier accepts the RFC's request as printed.
	m := rfcB2Request()
	m.header.Set("Signature-Input", rfcB26SignatureInput)
	m.header.Set("Signature", rfcB26Signature)
	v := verifier{keys: map[string]ed25519.PublicKey{"test-key-ed25519": pub}, window: time.Minute, required: rfcB26Components}
	got, err := v.verify(m, []byte(`{"hello": "world"}`), time.Unix(1618884473, 0))
	require.NoError(t, err)
	require.Equal(t, "test-key-ed25519", got.keyid)

	// A changed component is refused.
	m.header.Set("Content-Length", "19")
	_, err = v.verify(m, []byte(`{"hello": "world"}`), time.Unix(1618884473, 0))
	require.ErrorIs(t, err, ErrBadSignature)
}

func testSigner(t *testing.T) (*httpMessage, []byte, ed25519.PrivateKey, *verifier) {
	pub, priv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	u, _ := url.Parse("https://127.0.0.1:7502/peer/v1/batch")
	m := &httpMessage{method: "POST", target: u, header: http.Header{}}
	v := &verifier{keys: map[string]ed25519.PublicKey{"1": pub}, window: 30 * time.Second, required: coveredComponents}
	return m, []byte("body of the batch"), priv, v
}

func TestSignAndVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m, body, priv, v := testSigner(t)
	require.NoError(t, signRequest(m, body, priv, "1", "n1", now))
	require.Equal(t, `haven=("@method" "@target-uri" "date" "content-digest");created=1800000000;keyid="1";alg="ed25519";nonce="n1"`, m.header.Get("Signature-Input"))
	got, err := v.verify(m, body, now.Add(10*time.Second))
	require.NoError(t, err)
	require.Equal(t, "1", got.keyid)
	require.Len(t, got.signature, ed25519.SignatureSize)
}

func TestVerifyRefuses(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	cases := []struct {
		name  string
		alter func(m *httpMessage, body *[]byte)
		at    time.Duration
		want  error
	}{
		{"unsigned", func(m *httpMessage, _ *[]byte) { m.header.Del("Signature"); m.header.Del("Signature-Input") }, 0, ErrUnsigned},
		{"signature without input", func(m *httpMessage, _ *[]byte) { m.header.Del("Signature-Input") }, 0, ErrMalformed},
		{"altered body", func(_ *httpMessage, b *[]byte) { *b = []byte("body of the batcH") }, 0, ErrBadDigest},
		{"altered digest", func(m *httpMessage, b *[]byte) {
			*b = []byte("other")
			m.header.Set("Content-Digest", contentDigest(*b))
		}, 0, ErrBadSignature},
		{"altered method", func(m *httpMessage, _ *[]byte) { m.method = "PUT" }, 0, ErrBadSignature},
		{"altered path", func(m *httpMessage, _ *[]byte) { m.target.Path = "/peer/v1/other" }, 0, ErrBadSignature},
		{"altered query", func(m *httpMessage, _ *[]byte) { m.target.RawQuery = "x=1" }, 0, ErrBadSignature},
		{"other node", func(m *httpMessage, _ *[]byte) { m.target.Host = "127.0.0.1:7503" }, 0, ErrBadSignature},
		{"altered date", func(m *httpMessage, _ *[]byte) {
			m.header.Set("Date", now.Add(time.Second).UTC().Format(http.TimeFormat))
		}, 0, ErrBadSignature},
		{"unknown key", func(m *httpMessage, _ *[]byte) {
			m.header.Set("Signature-Input", `haven=("@method" "@target-uri" "date" "content-digest");created=1800000000;keyid="9";alg="ed25519"`)
		}, 0, ErrUnknownKey},
		{"keyid changed to a known key", func(m *httpMessage, _ *[]byte) {
			m.header.Set("Signature-Input", `haven=("@method" "@target-uri" "date" "content-digest");created=1800000000;keyid="2";alg="ed25519"`)
		}, 0, ErrBadSignature},
		{"fewer components", func(m *httpMessage, _ *[]byte) {
			m.header.Set("Signature-Input", `haven=("@method" "@target-uri" "date");created=1800000000;keyid="1";alg="ed25519"`)
		}, 0, ErrMalformed},
		{"other alg", func(m *httpMessage, _ *[]byte) {
			m.header.Set("Signature-Input", `haven=("@method" "@target-uri" "date" "content-digest");created=1800000000;keyid="1";alg="hmac-sha256"`)
		}, 0, ErrMalformed},
		{"two signatures", func(m *httpMessage, _ *[]byte) {
			m.header.Set("Signature", m.header.Get("Signature")+", b=:AAAA:")
		}, 0, ErrMalformed},
		{"garbage input", func(m *httpMessage, _ *[]byte) { m.header.Set("Signature-Input", `haven=("@method`) }, 0, ErrMalformed},
		{"garbage signature", func(m *httpMessage, _ *[]byte) { m.header.Set("Signature", `haven=:!!:`) }, 0, ErrMalformed},
		{"short signature", func(m *httpMessage, _ *[]byte) { m.header.Set("Signature", `haven=:AAAA:`) }, 0, ErrMalformed},
		{"stale", nil, 31 * time.Second, ErrStale},
		{"from the future", nil, -31 * time.Second, ErrStale},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, body, priv, v := testSigner(t)
			other, _, err := ed25519.GenerateKey(nil)
			require.NoError(t, err)
			v.keys["2"] = other
			require.NoError(t, signRequest(m, body, priv, "1", "n1", now))
			if c.alter != nil {
				c.alter(m, &body)
			}
			_, err = v.verify(m, body, now.Add(c.at))
			require.ErrorIs(t, err, c.want)
		})
	}
}

func TestReplayCache(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	c := newReplayCache(30*time.Second, 4)
	sig := func(i byte) []byte { s := make([]byte, 64); s[0] = i; return s }
	require.True(t, c.admit(sig(1), now.Unix(), now))
	require.False(t, c.admit(sig(1), now.Unix(), now), "a repeat inside the window")
	require.True(t, c.admit(sig(2), now.Unix(), now))

	// Past the window, entries are forgotten (the created check refuses
	// them as stale before the cache is asked).
	later := now.Add(31 * time.Second)
	require.True(t, c.admit(sig(3), later.Unix(), later))
	require.Equal(t, 1, c.len())

	// Full: the oldest is forgotten and the floor refuses its second.
	require.True(t, c.admit(sig(4), later.Unix()+1, later))
	require.True(t, c.admit(sig(5), later.Unix()+1, later))
	require.True(t, c.admit(sig(6), later.Unix()+2, later))
	require.True(t, c.admit(sig(7), later.Unix()+2, later)) // evicts 3 (created later)
	require.Equal(t, 4, c.len())
	require.False(t, c.admit(sig(3), later.Unix(), later), "the evicted signature is still refused")
	require.False(t, c.admit(sig(8), later.Unix(), later), "anything as old as the floor is refused")
	require.False(t, c.admit(sig(6), later.Unix()+2, later))
}

// FuzzVerifySignatureFields: whatever a stranger puts in Signature-Input
// and Signature, verification answers an error and never panics.
func FuzzVerifySignatureFields(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add(`haven=("@method" "@target-uri" "date" "content-digest");created=1800000000;keyid="1";alg="ed25519";nonce="n1"`, `haven=:AAAA:`)
	f.Add(rfcB26SignatureInput, rfcB26Signature)
	f.Add(`a=(), b=("x";y=1);z=?1`, `a=:=:, b=:AAAA:;q="\"\\"`)
	f.Add(`haven=("@method" "@target-uri" "date" "content-digest");created=-99999999999999999999;keyid=token`, `haven=("x")`)
	f.Fuzz(func(t *testing.T, input, signature string) {
		m, body, priv, v := testSigner(t)
		require.NoError(t, signRequest(m, body, priv, "1", "n1", now))
		m.header.Set("Signature-Input", input)
		m.header.Set("Signature", signature)
		_, err := v.verify(m, body, now)
		require.Error(t, err)
	})
}
