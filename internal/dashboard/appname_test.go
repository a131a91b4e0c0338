package dashboard_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/store"
)

// TestPagesCarryAppName: the title and the brand of every page say
// APP_NAME, escaped; Tripin when it is unset.
func TestPagesCarryAppName(t *testing.T) {
	h := newHarness(t, store.SQLite)
	w := h.do("GET", "/admin/login", nil)
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), "<title>Log in · Tripin ops</title>")
	require.Contains(t, w.Body.String(), `<span class="logo">T</span> Tripin <span class="muted">ops</span>`)

	h = newHarnessWith(t, store.SQLite, map[string]string{"APP_NAME": "bali <Trails>"})
	w = h.do("GET", "/admin/login", nil)
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), "<title>Log in · bali &lt;Trails&gt; ops</title>")
	require.Contains(t, w.Body.String(), `<span class="logo">B</span> bali &lt;Trails&gt; <span class="muted">ops</span>`)

	w = h.do("GET", "/admin", nil, h.session(h.admin))
	require.Equal(t, http.StatusOK, w.Code)
	require.Contains(t, w.Body.String(), "<title>Overview · bali &lt;Trails&gt; ops</title>")
	require.Contains(t, w.Body.String(), `<a class="brand" href="/admin"><span class="logo">B</span> bali &lt;Trails&gt; <span class="muted">ops</span></a>`)
}
