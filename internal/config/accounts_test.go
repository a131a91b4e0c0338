package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAccountDefaults(t *testing.T) {
	c, err := FromMap(map[string]string{})
	require.NoError(t, err)
	require.Equal(t, 7*24*time.Hour, c.AuthTokenTTL)
	require.Equal(t, 5, c.LoginRateLimit)
	require.Equal(t, 30, c.LoginIPRateLimit)
	require.Equal(t, 10, c.RegisterRateLimit)
	require.Empty(t, c.TrustedProxies)
	dump := strings.Join(c.Dump(), "\n")
	for _, kv := range []string{"AUTH_TOKEN_TTL=10080", "LOGIN_RATE_LIMIT=5", "LOGIN_IP_RATE_LIMIT=30", "REGISTER_RATE_LIMIT=10", "TRUSTED_PROXIES="} {
		require.Contains(t, dump, kv)
	}
}

func TestAccountKeys(t *testing.T) {
	c, err := FromMap(map[string]string{
		"AUTH_TOKEN_TTL": "90", "LOGIN_RATE_LIMIT": "0", "LOGIN_IP_RATE_LIMIT": "0", "REGISTER_RATE_LIMIT": "0",
		"TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1",
	})
	require.NoError(t, err)
	require.Equal(t, 90*time.Minute, c.AuthTokenTTL, "a number is minutes")
	require.Zero(t, c.LoginRateLimit+c.LoginIPRateLimit+c.RegisterRateLimit, "0 turns a limit off")
	require.Len(t, c.TrustedProxies, 2)
	require.Contains(t, strings.Join(c.Dump(), "\n"), "TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1/32")

	c, err = FromMap(map[string]string{"AUTH_TOKEN_TTL": "720h"})
	require.NoError(t, err)
	require.Equal(t, 30*24*time.Hour, c.AuthTokenTTL, "a duration")

	for _, bad := range []map[string]string{
		{"AUTH_TOKEN_TTL": "4"}, {"AUTH_TOKEN_TTL": "0"}, {"AUTH_TOKEN_TTL": "9000h"}, {"AUTH_TOKEN_TTL": "soon"},
		{"LOGIN_RATE_LIMIT": "-1"}, {"LOGIN_IP_RATE_LIMIT": "many"}, {"REGISTER_RATE_LIMIT": "-5"},
		{"TRUSTED_PROXIES": "10.0.0.0/8,proxy.example"},
	} {
		_, err := FromMap(bad)
		require.Error(t, err, "%v", bad)
		for k := range bad {
			require.Contains(t, err.Error(), k)
		}
	}
}
