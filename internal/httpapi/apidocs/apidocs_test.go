package apidocs

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestYAMLToJSON(t *testing.T) {
	got, err := yamlToJSON([]byte(`
z: 1
a:
  list: [1, two, true, null, 2.5]
  text: "x & <y>"
  anchored: &shared {k: v}
b: *shared
block: |
  two
  lines
`))
	require.NoError(t, err)
	require.Equal(t, `{"z":1,"a":{"list":[1,"two",true,null,2.5],"text":"x \u0026 \u003cy\u003e","anchored":{"k":"v"}},"b":{"k":"v"},"block":"two\nlines\n"}`, string(got),
		"keys keep their order, aliases are resolved, scalars keep their types")

	for _, bad := range []string{"a: 1\na: 2\n", "<<: {a: 1}\n", "a: [\n", "? [a]\n: 1\n"} {
		_, err := yamlToJSON([]byte(bad))
		require.Error(t, err, bad)
	}
}

func TestDocumentIsJSON(t *testing.T) {
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(Document(), &doc))
	require.Equal(t, "3.1.0", doc.OpenAPI)
	require.Contains(t, doc.Paths, "/api/bookings")
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"": false, "gzip": true, "gzip, deflate, br": true, "br;q=1.0, GZIP;q=0.5": true,
		"gzip;q=0": false, "gzip; q=0": false, "gzip;q=0.0": false, "gzip;q=0.001": true, "identity": false, "x-gzip": false,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Encoding", header)
		require.Equal(t, want, acceptsGzip(r), "%q", header)
	}
}
