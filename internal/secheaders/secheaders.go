// Package secheaders sets the security headers of Tripin's responses: a
// Content-Security-Policy, X-Content-Type-Options, Referrer-Policy,
// frame-ancestors 'none' with X-Frame-Options for older browsers, and
// Strict-Transport-Security on HTTPS. Every response gets the strictest
// policy (Middleware); an HTML page replaces it with one that allows just
// what the page needs (Set).
package secheaders

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
)

// APIPolicy is the Content-Security-Policy of every response that is not
// an HTML page: nothing may load, run, submit or frame it.
const APIPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// DashboardPolicy lets the dashboard load its own stylesheet and show its
// inline SVG charts, and nothing else: the pages carry no script.
const DashboardPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// HSTSValue is the Strict-Transport-Security of responses over HTTPS: a
// year, without includeSubDomains, which is the operator's call for the
// rest of the domain.
const HSTSValue = "max-age=31536000"

// Middleware sets the headers with APIPolicy before next writes, so that
// every response has them, errors and redirects included. A handler that
// serves an HTML page calls Set with its own policy. isHTTPS says whether
// a request reached Tripin over HTTPS (nil: the connection is TLS); its
// answer is kept in the request's context for Set.
func Middleware(isHTTPS func(*http.Request) bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isHTTPS != nil {
			r = r.WithContext(context.WithValue(r.Context(), httpsKey{}, isHTTPS(r)))
		}
		Set(w, r, APIPolicy)
		next.ServeHTTP(w, r)
	})
}

// httpsKey keys Middleware's judgement of HTTPS in a request's context.
type httpsKey struct{}

// Set sets the security headers with Content-Security-Policy csp. The
// referrer goes to the same origin only: the ticket and simulator links
// carry their signature in the URL, and the dashboard's forms need their
// Origin header (which "no-referrer" would turn into "null").
func Set(w http.ResponseWriter, r *http.Request, csp string) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	if requestIsHTTPS(r) {
		h.Set("Strict-Transport-Security", HSTSValue)
	}
}

// requestIsHTTPS reports whether the client reached Tripin over HTTPS:
// what Middleware's isHTTPS said, or else whether the connection is TLS.
func requestIsHTTPS(r *http.Request) bool {
	if r == nil {
		return false
	}
	if v, ok := r.Context().Value(httpsKey{}).(bool); ok {
		return v
	}
	return r.TLS != nil
}

// inlineBlock matches the inline <style> and <script> elements of a page.
var inlineBlock = regexp.MustCompile(`(?s)<(style|script)>(.*?)</(?:style|script)>`)

// PagePolicy returns the Content-Security-Policy of a page whose template
// source is src: its inline <style> and <script> elements are allowed by
// their SHA-256 (so no other inline code can run), images may be its own
// or data: URLs, forms post to the same origin, and nothing may frame it.
// The inline elements must be static text: PagePolicy panics on a
// template action inside one, whose output no hash could foresee.
func PagePolicy(src string) string {
	var styles, scripts []string
	for _, m := range inlineBlock.FindAllStringSubmatch(src, -1) {
		if strings.Contains(m[2], "{{") {
			panic("secheaders: a template action inside an inline <" + m[1] + "> cannot be hashed")
		}
		if m[1] == "style" {
			styles = append(styles, Hash(m[2]))
		} else {
			scripts = append(scripts, Hash(m[2]))
		}
	}
	p := []string{"default-src 'none'"}
	if len(styles) > 0 {
		p = append(p, "style-src "+strings.Join(styles, " "))
	}
	if len(scripts) > 0 {
		p = append(p, "script-src "+strings.Join(scripts, " "))
	}
	p = append(p, "img-src 'self' data:", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'")
	return strings.Join(p, "; ")
}

// Hash returns the CSP source expression that allows one inline element
// whose text is s: 'sha256-…'.
func Hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}
