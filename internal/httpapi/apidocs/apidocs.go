// Package apidocs is the API's reference: its OpenAPI 3.1 document
// (openapi.yaml, written by hand from the handlers it describes, and
// served as JSON), and a page that renders it with Swagger UI. Everything
// the page loads is embedded in the binary and served by Tripin itself, so
// it works offline and under a Content-Security-Policy that allows only
// the server's own scripts and styles.
//
// Swagger UI is swagger-ui-dist from npm, copied unchanged into
// swagger-ui/ with its licence (Apache-2.0) and notice; swagger-ui/README.md
// says which version and how to update it.
package apidocs

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

//go:embed openapi.yaml
var documentYAML []byte

//go:embed page.html
var page []byte

//go:embed docs.js swagger-ui/swagger-ui-bundle.js swagger-ui/swagger-ui.css
var assetFS embed.FS

// PagePolicy is the Content-Security-Policy of the docs page: scripts,
// styles and the document come from this server only, images from it or
// data: URLs (the stylesheet's icons), and nothing may frame the page or
// submit a form from it. Swagger UI needs neither 'unsafe-eval' nor
// 'unsafe-inline': the browser test checks that the page reports no
// violation of this policy.
const PagePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// Document returns the OpenAPI document as JSON, keys in the order
// openapi.yaml writes them.
func Document() []byte { return document() }

var document = sync.OnceValue(func() []byte {
	b, err := yamlToJSON(documentYAML)
	if err != nil {
		// The document is embedded: this fails every test, never a
		// deployment.
		panic("apidocs: openapi.yaml: " + err.Error())
	}
	return b
})

// Page returns the HTML of the docs page. It links its assets relative
// to its own URL, /api/docs.
func Page() []byte { return page }

// Asset is one embedded file of the docs page.
type Asset struct {
	ContentType string
	Body        []byte
	// Gzipped is Body compressed, for clients that accept gzip: the
	// Swagger UI bundle shrinks to about a third.
	Gzipped []byte
}

var assets = sync.OnceValue(func() map[string]Asset {
	out := map[string]Asset{}
	for _, name := range []string{"docs.js", "swagger-ui/swagger-ui-bundle.js", "swagger-ui/swagger-ui.css"} {
		body, err := assetFS.ReadFile(name)
		if err != nil {
			panic("apidocs: " + err.Error())
		}
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		zw.Write(body)
		zw.Close()
		ct := "text/javascript; charset=utf-8"
		if strings.HasSuffix(name, ".css") {
			ct = "text/css; charset=utf-8"
		}
		out[path.Base(name)] = Asset{ContentType: ct, Body: body, Gzipped: gz.Bytes()}
	}
	return out
})

// LookupAsset returns the asset the page names file ("swagger-ui.css").
func LookupAsset(file string) (Asset, bool) {
	a, ok := assets()[file]
	return a, ok
}

// ServeAsset writes a, compressed when r accepts gzip. Assets change only
// with the binary, so clients may keep them for an hour.
func ServeAsset(w http.ResponseWriter, r *http.Request, a Asset) {
	h := w.Header()
	h.Set("Content-Type", a.ContentType)
	h.Set("Cache-Control", "public, max-age=3600")
	h.Add("Vary", "Accept-Encoding")
	body := a.Body
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = a.Gzipped
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// acceptsGzip reports whether r's Accept-Encoding takes gzip with a
// weight above zero.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		name, value, ok := strings.Cut(params, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "q") {
			return true
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		return err == nil && q > 0
	}
	return false
}

// yamlToJSON converts a YAML document to JSON, keeping the order of
// mapping keys (which a map would lose) and resolving aliases.
func yamlToJSON(src []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, &root); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("line %d: one document expected", n.Line)
		}
		return writeJSON(buf, n.Content[0])
	case yaml.AliasNode:
		return writeJSON(buf, n.Alias)
	case yaml.MappingNode:
		buf.WriteByte('{')
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: a key must be a scalar", k.Line)
			}
			if k.Value == "<<" {
				return fmt.Errorf("line %d: merge keys are not supported", k.Line)
			}
			if seen[k.Value] {
				return fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			seen[k.Value] = true
			if i > 0 {
				buf.WriteByte(',')
			}
			key, _ := json.Marshal(k.Value)
			buf.Write(key)
			buf.WriteByte(':')
			if err := writeJSON(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, c); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		buf.Write(b)
		return nil
	}
	return fmt.Errorf("line %d: unsupported YAML node", n.Line)
}
