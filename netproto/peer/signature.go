package peer

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// RFC 9421 HTTP Message Signatures, the part Haven uses: Ed25519 (§3.3.6),
// a signature over derived components and header fields (§2), with the
// "created", "keyid" and "alg" parameters (§2.3); and the Content-Digest
// field of RFC 9530 with sha-256, which carries the body into the
// signature.

// signatureLabel names our signature in the Signature-Input and Signature
// dictionaries.
const signatureLabel = "haven"

// algEd25519 is the alg parameter's value for Ed25519 (RFC 9421 §6.2.2).
const algEd25519 = "ed25519"

// coveredComponents is what every peer request's signature covers, in this
// order: the method and the full target (so a request cannot be sent to
// another path or node), the date (freshness, with created), and the
// content digest (the body).
var coveredComponents = []string{"@method", "@target-uri", "date", "content-digest"}

// Why a request was refused; each answers 401.
var (
	ErrUnsigned     = errors.New("peer: request is not signed")
	ErrUnknownKey   = errors.New("peer: signed by an unknown key")
	ErrBadSignature = errors.New("peer: signature does not verify")
	ErrBadDigest    = errors.New("peer: body does not match its content digest")
	ErrStale        = errors.New("peer: signature outside the replay window")
	ErrReplayed     = errors.New("peer: signature already seen")
	ErrMalformed    = errors.New("peer: malformed signature fields")
)

// httpMessage is what the signature base is computed from: on the sending
// side the request being built, on the receiving side the request as
// received.
type httpMessage struct {
	method string
	// target is the absolute target URI (RFC 9421 §2.2.2).
	target *url.URL
	header http.Header
}

// receivedMessage reconstructs the target URI as the sender wrote it: peer
// requests travel only over TLS, and Go's server puts the authority in Host.
func receivedMessage(r *http.Request) httpMessage {
	u := &url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	return httpMessage{method: r.Method, target: u, header: r.Header}
}

// componentValue is a component's value in the signature base (§2.1, §2.2).
func (m *httpMessage) componentValue(name string) (string, error) {
	switch name {
	case "@method":
		return m.method, nil
	case "@target-uri":
		return m.target.String(), nil
	case "@authority":
		return strings.ToLower(m.target.Host), nil
	case "@scheme":
		return strings.ToLower(m.target.Scheme), nil
	case "@path":
		p := m.target.EscapedPath()
		if p == "" {
			p = "/"
		}
		return p, nil
	case "@query":
		return "?" + m.target.RawQuery, nil
	case "@request-target":
		return m.target.RequestURI(), nil
	}
	if strings.HasPrefix(name, "@") || name == "" || strings.ToLower(name) != name {
		return "", fmt.Errorf("%w: unsupported component %q", ErrMalformed, name)
	}
	values, ok := m.header[http.CanonicalHeaderKey(name)]
	if !ok {
		return "", fmt.Errorf("%w: covered field %q is absent", ErrMalformed, name)
	}
	// §2.1: values trimmed and joined with ", ".
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = strings.TrimSpace(v)
	}
	return strings.Join(parts, ", "), nil
}

// signatureParams serializes the "@signature-params" value (§2.3), which is
// also the Signature-Input member's value.
func signatureParams(components []string, created int64, keyid, alg, nonce string) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, c := range components {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(quoteString(c))
	}
	b.WriteString(");created=")
	b.WriteString(strconv.FormatInt(created, 10))
	b.WriteString(";keyid=")
	b.WriteString(quoteString(keyid))
	if alg != "" {
		b.WriteString(";alg=")
		b.WriteString(quoteString(alg))
	}
	if nonce != "" {
		b.WriteString(";nonce=")
		b.WriteString(quoteString(nonce))
	}
	return b.String()
}

// signatureBase builds the bytes that are signed (§2.5): one line per
// covered component, then the "@signature-params" line, which is params.
func signatureBase(m *httpMessage, components []string, params string) ([]byte, error) {
	var b []byte
	for i, c := range components {
		for _, earlier := range components[:i] {
			if earlier == c {
				return nil, fmt.Errorf("%w: component %q twice", ErrMalformed, c)
			}
		}
		v, err := m.componentValue(c)
		if err != nil {
			return nil, err
		}
		if strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("%w: newline in component %q", ErrMalformed, c)
		}
		b = append(b, quoteString(c)...)
		b = append(b, ": "...)
		b = append(b, v...)
		b = append(b, '\n')
	}
	b = append(b, `"@signature-params": `...)
	b = append(b, params...)
	return b, nil
}

// contentDigest is the Content-Digest value for body (RFC 9530 §2).
func contentDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// signRequest adds Date, Content-Digest, Signature-Input and Signature to a
// request whose method, URL and body are final. nonce must differ between
// requests: Ed25519 is deterministic and created counts seconds, so two
// equal batches in one second (Raft may well repeat a message) would
// otherwise carry the same signature and the second be refused as a replay.
func signRequest(m *httpMessage, body []byte, key ed25519.PrivateKey, keyid, nonce string, now time.Time) error {
	return signComponents(m, body, coveredComponents, key, keyid, nonce, now)
}

// signComponents is signRequest over the given components (the fields
// among them other than Date and Content-Digest already set).
func signComponents(m *httpMessage, body []byte, components []string, key ed25519.PrivateKey, keyid, nonce string, now time.Time) error {
	m.header.Set("Date", now.UTC().Format(http.TimeFormat))
	m.header.Set("Content-Digest", contentDigest(body))
	params := signatureParams(components, now.Unix(), keyid, algEd25519, nonce)
	base, err := signatureBase(m, components, params)
	if err != nil {
		return err
	}
	sig := ed25519.Sign(key, base)
	m.header.Set("Signature-Input", signatureLabel+"="+params)
	m.header.Set("Signature", signatureLabel+"=:"+base64.StdEncoding.EncodeToString(sig)+":")
	return nil
}

// verified is what a good signature tells the receiver.
type verified struct {
	keyid     string
	created   time.Time
	signature []byte
}

// verifier checks signatures against the cluster's key list.
type verifier struct {
	keys   map[string]ed25519.PublicKey
	window time.Duration
	// required lists the components a signature must cover.
	required []string
}

// verify checks the request's signature, its freshness and its body. It
// does not consult the replay cache (the caller does, once verified).
func (v *verifier) verify(m *httpMessage, body []byte, now time.Time) (verified, error) {
	inputField := m.header.Values("Signature-Input")
	sigField := m.header.Values("Signature")
	if len(inputField) == 0 && len(sigField) == 0 {
		return verified{}, ErrUnsigned
	}
	if len(inputField) != 1 || len(sigField) != 1 {
		return verified{}, fmt.Errorf("%w: want one Signature-Input and one Signature field", ErrMalformed)
	}
	inputs, err := parseDictionary(inputField[0])
	if err != nil {
		return verified{}, fmt.Errorf("%w: Signature-Input: %v", ErrMalformed, err)
	}
	sigs, err := parseDictionary(sigField[0])
	if err != nil {
		return verified{}, fmt.Errorf("%w: Signature: %v", ErrMalformed, err)
	}
	// We sign once per request, so we accept exactly one signature: a
	// second one could only be an attempt to confuse which one counts.
	if len(inputs) != 1 || len(sigs) != 1 || inputs[0].label != sigs[0].label || !inputs[0].isList || sigs[0].isList {
		return verified{}, fmt.Errorf("%w: want one signature with matching labels", ErrMalformed)
	}
	in, sig := &inputs[0], sigs[0].bytes
	for _, need := range v.required {
		found := false
		for _, c := range in.inner {
			found = found || c == need
		}
		if !found {
			return verified{}, fmt.Errorf("%w: signature does not cover %q", ErrMalformed, need)
		}
	}
	keyid, ok := in.param("keyid")
	if !ok || keyid.isInt {
		return verified{}, fmt.Errorf("%w: no keyid", ErrMalformed)
	}
	if alg, ok := in.param("alg"); ok && (alg.isInt || alg.str != algEd25519) {
		return verified{}, fmt.Errorf("%w: alg %q", ErrMalformed, alg.str)
	}
	pub, ok := v.keys[keyid.str]
	if !ok {
		return verified{}, fmt.Errorf("%w: %q", ErrUnknownKey, keyid.str)
	}
	created, ok := in.param("created")
	if !ok || !created.isInt {
		return verified{}, fmt.Errorf("%w: no created", ErrMalformed)
	}
	createdAt := time.Unix(created.num, 0)
	if d := now.Sub(createdAt); d > v.window || d < -v.window {
		return verified{}, fmt.Errorf("%w: created %s ago", ErrStale, d)
	}
	if expires, ok := in.param("expires"); ok && (!expires.isInt || now.Unix() > expires.num) {
		return verified{}, fmt.Errorf("%w: expired", ErrStale)
	}
	if date, err := http.ParseTime(m.header.Get("Date")); err == nil {
		if d := now.Sub(date); d > v.window || d < -v.window {
			return verified{}, fmt.Errorf("%w: dated %s ago", ErrStale, d)
		}
	} else if len(m.header.Values("Date")) > 0 {
		return verified{}, fmt.Errorf("%w: bad Date", ErrMalformed)
	}
	if len(sig) != ed25519.SignatureSize {
		return verified{}, fmt.Errorf("%w: signature of %d bytes", ErrMalformed, len(sig))
	}
	base, err := signatureBase(m, in.inner, in.raw)
	if err != nil {
		return verified{}, err
	}
	if !ed25519.Verify(pub, base, sig) {
		return verified{}, ErrBadSignature
	}
	// The digest header is now known to be the sender's; the body must
	// match it.
	covered := false
	for _, c := range in.inner {
		covered = covered || c == "content-digest"
	}
	if got := m.header.Values("Content-Digest"); covered && (len(got) != 1 || subtle.ConstantTimeCompare([]byte(got[0]), []byte(contentDigest(body))) != 1) {
		return verified{}, ErrBadDigest
	}
	return verified{keyid: keyid.str, created: createdAt, signature: sig}, nil
}
