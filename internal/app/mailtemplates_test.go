package app_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/app"
	"github.com/tripintravel/tripin/internal/store"
)

// TestNewRefusesBrokenMailTemplate: a MAIL_TEMPLATES_DIR override that
// cannot render stops the application at start, naming the file and line,
// instead of failing the first customer's email.
func TestNewRefusesBrokenMailTemplate(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "eticket.html"), []byte("<p>{{.Code}}</p>\n<p>{{.TicketLink}}</p>\n"), 0o644))
	_, err := app.New(context.Background(), newConfig(t, store.SQLite, map[string]string{"MAIL_TEMPLATES_DIR": dir}), app.Options{})
	require.Error(t, err)
	require.Contains(t, err.Error(), filepath.Join(dir, "eticket.html")+":2:")
	require.Contains(t, err.Error(), "TicketLink")

	// Fixed, the same folder starts, in either locale.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "eticket.html"), []byte("<p>{{.Code}}</p>\n<p>{{.TicketURL}}</p>\n"), 0o644))
	for _, locale := range []string{"en", "id"} {
		a, err := app.New(context.Background(), newConfig(t, store.SQLite, map[string]string{"MAIL_TEMPLATES_DIR": dir, "APP_LOCALE": locale}), app.Options{})
		require.NoError(t, err)
		a.Close()
	}
}
