package httpapi

import (
	"net/http"
	"net/netip"

	"github.com/tripintravel/tripin/internal/clientip"
)

// The client of a request is worked out in one place, package clientip
// (TRUSTED_PROXIES decides whether forwarded headers are believed); these
// are its names as the API's handlers and the dashboard use them.

// TrustedProxies are the reverse proxies whose forwarded headers are
// believed (clientip.TrustedProxies).
type TrustedProxies = clientip.TrustedProxies

// Client is what a request says about its client (clientip.Client).
type Client = clientip.Client

// NewTrustedProxies returns the set of the given networks (the
// configuration's TrustedProxies).
func NewTrustedProxies(nets []netip.Prefix) *TrustedProxies { return clientip.NewTrustedProxies(nets) }

// WithClient returns r with its client, as t resolves it, in its context.
func WithClient(r *http.Request, t *TrustedProxies) *http.Request { return clientip.WithClient(r, t) }

// ClientFrom returns the client of r (clientip.From).
func ClientFrom(r *http.Request) Client { return clientip.From(r) }

// ClientIP returns the address of r's client: what rate limits count,
// what the access log shows.
func ClientIP(r *http.Request) string { return clientip.IP(r) }

// RequestIsHTTPS reports whether r's client reached the site over HTTPS:
// a TLS connection, or a trusted proxy's X-Forwarded-Proto: https. It
// decides the Secure flag of cookies and whether HSTS is sent.
func RequestIsHTTPS(r *http.Request) bool { return clientip.RequestIsHTTPS(r) }
