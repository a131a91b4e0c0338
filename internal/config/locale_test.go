package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAppLocale(t *testing.T) {
	c, err := FromMap(map[string]string{})
	require.NoError(t, err)
	require.Equal(t, "en", c.AppLocale, "English by default")
	require.Contains(t, c.Dump(), "APP_LOCALE=en")

	c, err = FromMap(map[string]string{"APP_LOCALE": "ID"})
	require.NoError(t, err)
	require.Equal(t, "id", c.AppLocale)

	requireConfigError(t, map[string]string{"APP_LOCALE": "fr"}, "APP_LOCALE", "must be one of en, id")
	requireConfigError(t, map[string]string{"APP_LOCALE": "id_ID"}, "APP_LOCALE", "must be one of en, id")
}
