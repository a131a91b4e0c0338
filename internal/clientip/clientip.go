// Package clientip works out who the client of a request is: its address
// and whether it came over HTTPS, believing X-Forwarded-For and
// X-Forwarded-Proto only from the reverse proxies listed in
// TRUSTED_PROXIES. It is a leaf package, so that every HTTP layer (the
// API, the dashboard, the security headers) can ask it; httpapi re-exports
// it and resolves the client first thing for every request.
package clientip

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies are the networks of the reverse proxies in front of
// Tripin (TRUSTED_PROXIES). Only a request whose connection comes from one
// of them has its X-Forwarded-For and X-Forwarded-Proto headers believed;
// from anywhere else those headers are the client's own words and are
// ignored. An empty set trusts nobody, which is right for a server that
// faces the internet directly.
type TrustedProxies struct {
	nets []netip.Prefix
}

// NewTrustedProxies returns the set of the given networks (the
// configuration's TrustedProxies).
func NewTrustedProxies(nets []netip.Prefix) *TrustedProxies {
	return &TrustedProxies{nets: append([]netip.Prefix(nil), nets...)}
}

// Trusts reports whether a is the address of a trusted proxy.
func (t *TrustedProxies) Trusts(a netip.Addr) bool {
	if t == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, n := range t.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// Client is what Tripin believes about the client of a request: its
// address, and whether it reached the site over HTTPS.
type Client struct {
	// IP is the client's address: the connection's, or, behind trusted
	// proxies, the nearest address in X-Forwarded-For that is not one of
	// them.
	IP string
	// HTTPS is true when the connection is TLS, or when a trusted proxy
	// says in X-Forwarded-Proto that the client used https.
	HTTPS bool
}

// Resolve works out the client of r. X-Forwarded-For is read from the
// right, the end the nearest proxy appended to: each address is believed
// only while the hop that wrote it is trusted, so an address a client
// wrote itself (on the left) is never reached unless every proxy between
// is trusted. The first address that is not a trusted proxy is the
// client.
func (t *TrustedProxies) Resolve(r *http.Request) Client {
	remote := remoteAddr(r.RemoteAddr)
	c := Client{IP: remote, HTTPS: r.TLS != nil}
	a, err := netip.ParseAddr(remote)
	if err != nil || !t.Trusts(a) {
		return c
	}
	if proto := firstValue(r.Header.Values("X-Forwarded-Proto")); proto != "" {
		c.HTTPS = c.HTTPS || strings.EqualFold(proto, "https")
	}
	hops := forwardedFor(r.Header.Values("X-Forwarded-For"))
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(hops[i])
		if err != nil {
			// Garbage where a trusted proxy should have written an
			// address: keep the last address that is known good.
			break
		}
		c.IP = hop.Unmap().String()
		if !t.Trusts(hop) {
			break
		}
	}
	return c
}

// forwardedFor splits X-Forwarded-For headers into their addresses, in
// order; a proxy may have added a header of its own instead of appending.
// IPv6 addresses in brackets and addresses with a port are accepted.
func forwardedFor(values []string) []string {
	var out []string
	for _, v := range values {
		for _, hop := range strings.Split(v, ",") {
			hop = strings.TrimSpace(hop)
			if ap, err := netip.ParseAddrPort(hop); err == nil {
				hop = ap.Addr().String()
			}
			out = append(out, strings.Trim(hop, "[]"))
		}
	}
	return out
}

// firstValue returns the first comma-separated value of headers: the
// scheme the client used, as the outermost proxy recorded it.
func firstValue(values []string) string {
	if len(values) == 0 {
		return ""
	}
	v, _, _ := strings.Cut(values[0], ",")
	return strings.TrimSpace(v)
}

// remoteAddr is the host part of a connection's remote address.
func remoteAddr(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap().String()
	}
	host := addr
	if i := strings.LastIndexByte(host, ':'); i >= 0 && strings.Count(host, ":") == 1 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

type clientKey struct{}

// WithClient returns r with its client, as t resolves it, in its context,
// where IP and RequestIsHTTPS find it. The API server does this first
// thing for every request, the dashboard's included.
func WithClient(r *http.Request, t *TrustedProxies) *http.Request {
	c := t.Resolve(r)
	return r.WithContext(context.WithValue(r.Context(), clientKey{}, c))
}

// From returns the client of r: the one WithClient stored, or else
// the connection's address and TLS state, with no proxy believed.
func From(r *http.Request) Client {
	if c, ok := r.Context().Value(clientKey{}).(Client); ok {
		return c
	}
	return (*TrustedProxies)(nil).Resolve(r)
}

// IP returns the address of r's client: what rate limits count, what the
// access log shows. See From.
func IP(r *http.Request) string { return From(r).IP }

// RequestIsHTTPS reports whether r's client reached the site over HTTPS:
// a TLS connection, or a trusted proxy's X-Forwarded-Proto: https. It
// decides the Secure flag of cookies and whether HSTS is sent.
func RequestIsHTTPS(r *http.Request) bool { return From(r).HTTPS }
