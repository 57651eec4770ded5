package peer

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// A strict subset of RFC 8941 Structured Field Values: what the
// Signature-Input and Signature fields of RFC 9421 use. Dictionaries whose
// members are inner lists of strings or byte sequences, with parameters
// whose values are integers, strings, tokens or booleans.

var errSyntax = errors.New("peer: structured field syntax")

// sfMember is one dictionary member: label=value.
type sfMember struct {
	label string
	// raw is the member's value exactly as sent: an inner list with its
	// parameters is the "@signature-params" line of the signature base.
	raw string
	// inner holds the strings of an inner-list value; isList says it is one.
	inner  []string
	isList bool
	// bytes is a byte-sequence value.
	bytes  []byte
	params []sfParam
}

type sfParam struct {
	key string
	// One of: an integer (isInt), or a string or token in str.
	isInt bool
	num   int64
	str   string
}

func (m *sfMember) param(key string) (sfParam, bool) {
	for _, p := range m.params {
		if p.key == key {
			return p, true
		}
	}
	return sfParam{}, false
}

// maxDictionaryMembers and maxInnerList bound the work a hostile header can
// cause (net/http already bounds its length).
const (
	maxDictionaryMembers = 8
	maxInnerList         = 32
)

type sfParser struct {
	s   string
	off int
}

func parseDictionary(s string) ([]sfMember, error) {
	p := sfParser{s: s}
	p.skipSP()
	var out []sfMember
	for {
		if len(out) == maxDictionaryMembers {
			return nil, fmt.Errorf("%w: more than %d members", errSyntax, maxDictionaryMembers)
		}
		label, err := p.key()
		if err != nil {
			return nil, err
		}
		if !p.eat('=') {
			return nil, fmt.Errorf("%w: member %q has no value", errSyntax, label)
		}
		m := sfMember{label: label}
		start := p.off
		switch {
		case p.peek() == '(':
			m.isList = true
			if m.inner, err = p.innerList(); err != nil {
				return nil, err
			}
		case p.peek() == ':':
			if m.bytes, err = p.byteSequence(); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: member %q is neither an inner list nor bytes", errSyntax, label)
		}
		if m.params, err = p.parameters(); err != nil {
			return nil, err
		}
		m.raw = p.s[start:p.off]
		for _, o := range out {
			if o.label == label {
				return nil, fmt.Errorf("%w: member %q twice", errSyntax, label)
			}
		}
		out = append(out, m)
		p.skipOWS()
		if p.off == len(p.s) {
			return out, nil
		}
		if !p.eat(',') {
			return nil, fmt.Errorf("%w: expected ',' at %d", errSyntax, p.off)
		}
		p.skipOWS()
		if p.off == len(p.s) {
			return nil, fmt.Errorf("%w: trailing ','", errSyntax)
		}
	}
}

func (p *sfParser) peek() byte {
	if p.off < len(p.s) {
		return p.s[p.off]
	}
	return 0
}

func (p *sfParser) eat(c byte) bool {
	if p.peek() == c && p.off < len(p.s) {
		p.off++
		return true
	}
	return false
}

func (p *sfParser) skipSP() {
	for p.peek() == ' ' {
		p.off++
	}
}

func (p *sfParser) skipOWS() {
	for p.peek() == ' ' || p.peek() == '\t' {
		p.off++
	}
}

func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }

// key: ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )
func (p *sfParser) key() (string, error) {
	start := p.off
	if c := p.peek(); !isLCAlpha(c) && c != '*' {
		return "", fmt.Errorf("%w: bad key at %d", errSyntax, p.off)
	}
	for p.off < len(p.s) {
		c := p.s[p.off]
		if !isLCAlpha(c) && !isDigit(c) && c != '_' && c != '-' && c != '.' && c != '*' {
			break
		}
		p.off++
	}
	return p.s[start:p.off], nil
}

func (p *sfParser) innerList() ([]string, error) {
	p.off++ // (
	var items []string
	for {
		p.skipSP()
		if p.eat(')') {
			return items, nil
		}
		if len(items) == maxInnerList {
			return nil, fmt.Errorf("%w: more than %d components", errSyntax, maxInnerList)
		}
		if len(items) > 0 && p.s[p.off-1] != ' ' {
			return nil, fmt.Errorf("%w: items not separated by a space", errSyntax)
		}
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		// Component parameters (";sf", ";key=...", ";req") are not
		// supported: refusing them keeps the base unambiguous.
		if p.peek() == ';' {
			return nil, fmt.Errorf("%w: component parameters are not supported", errSyntax)
		}
		items = append(items, s)
		if c := p.peek(); c != ' ' && c != ')' {
			return nil, fmt.Errorf("%w: bad inner list at %d", errSyntax, p.off)
		}
	}
}

func (p *sfParser) str() (string, error) {
	if !p.eat('"') {
		return "", fmt.Errorf("%w: expected a string at %d", errSyntax, p.off)
	}
	var b strings.Builder
	for p.off < len(p.s) {
		c := p.s[p.off]
		p.off++
		switch {
		case c == '\\':
			if p.off == len(p.s) {
				return "", fmt.Errorf("%w: unterminated string", errSyntax)
			}
			n := p.s[p.off]
			if n != '"' && n != '\\' {
				return "", fmt.Errorf("%w: bad escape", errSyntax)
			}
			b.WriteByte(n)
			p.off++
		case c == '"':
			return b.String(), nil
		case c < 0x20 || c > 0x7e:
			return "", fmt.Errorf("%w: bad character in a string", errSyntax)
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("%w: unterminated string", errSyntax)
}

func (p *sfParser) byteSequence() ([]byte, error) {
	p.off++ // :
	end := strings.IndexByte(p.s[p.off:], ':')
	if end < 0 {
		return nil, fmt.Errorf("%w: unterminated byte sequence", errSyntax)
	}
	enc := p.s[p.off : p.off+end]
	p.off += end + 1
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errSyntax, err)
	}
	return b, nil
}

func (p *sfParser) parameters() ([]sfParam, error) {
	var out []sfParam
	for p.eat(';') {
		if len(out) == maxInnerList {
			return nil, fmt.Errorf("%w: too many parameters", errSyntax)
		}
		p.skipSP()
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		prm := sfParam{key: k}
		if p.eat('=') {
			switch c := p.peek(); {
			case c == '"':
				if prm.str, err = p.str(); err != nil {
					return nil, err
				}
			case c == '-' || isDigit(c):
				start := p.off
				p.off++
				for p.off < len(p.s) && isDigit(p.s[p.off]) && p.off-start < 16 {
					p.off++
				}
				if prm.num, err = strconv.ParseInt(p.s[start:p.off], 10, 64); err != nil {
					return nil, fmt.Errorf("%w: bad integer", errSyntax)
				}
				prm.isInt = true
			case isLCAlpha(c) || (c >= 'A' && c <= 'Z') || c == '*':
				start := p.off
				for p.off < len(p.s) && strings.IndexByte(" ;,()\"\t", p.s[p.off]) < 0 {
					p.off++
				}
				prm.str = p.s[start:p.off]
			case c == '?':
				p.off++
				if c := p.peek(); c != '0' && c != '1' {
					return nil, fmt.Errorf("%w: bad boolean", errSyntax)
				}
				p.off++
			default:
				return nil, fmt.Errorf("%w: bad parameter value", errSyntax)
			}
		}
		for _, o := range out {
			if o.key == k {
				return nil, fmt.Errorf("%w: parameter %q twice", errSyntax, k)
			}
		}
		out = append(out, prm)
	}
	return out, nil
}

// quoteString serializes s as an sf-string (callers only pass printable
// ASCII).
func quoteString(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return `"` + s + `"`
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}
