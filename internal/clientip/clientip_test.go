package clientip_test

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/clientip"
	"github.com/tripintravel/tripin/internal/config"
)

func TestClientResolve(t *testing.T) {
	nets, err := config.ParseTrustedProxies("127.0.0.1, 10.0.0.0/8, fd00::/8")
	require.NoError(t, err)
	trusted := clientip.NewTrustedProxies(nets)
	cases := []struct {
		name    string
		proxies *clientip.TrustedProxies
		remote  string
		xff     []string
		proto   string
		tls     bool
		ip      string
		https   bool
	}{
		{name: "no proxy trusted: headers ignored", proxies: clientip.NewTrustedProxies(nil), remote: "127.0.0.1:5000",
			xff: []string{"203.0.113.9"}, proto: "https", ip: "127.0.0.1"},
		{name: "direct client forging headers", proxies: trusted, remote: "198.51.100.7:5000",
			xff: []string{"203.0.113.9"}, proto: "https", ip: "198.51.100.7"},
		{name: "one trusted proxy", proxies: trusted, remote: "127.0.0.1:5000",
			xff: []string{"203.0.113.9"}, proto: "https", ip: "203.0.113.9", https: true},
		{name: "client forged the left part", proxies: trusted, remote: "127.0.0.1:5000",
			xff: []string{"1.2.3.4, 203.0.113.9"}, ip: "203.0.113.9"},
		{name: "chain of trusted proxies", proxies: trusted, remote: "127.0.0.1:5000",
			xff: []string{"1.2.3.4, 203.0.113.9, 10.1.2.3"}, ip: "203.0.113.9"},
		{name: "several headers", proxies: trusted, remote: "10.0.0.2:5000",
			xff: []string{"1.2.3.4", "203.0.113.9, 10.1.2.3"}, ip: "203.0.113.9"},
		{name: "every hop trusted: the leftmost", proxies: trusted, remote: "127.0.0.1:1",
			xff: []string{"10.9.9.9, 10.1.2.3"}, ip: "10.9.9.9"},
		{name: "garbage behind a trusted hop", proxies: trusted, remote: "127.0.0.1:1",
			xff: []string{"203.0.113.9, nonsense"}, ip: "127.0.0.1"},
		{name: "no header behind a proxy", proxies: trusted, remote: "127.0.0.1:1", ip: "127.0.0.1"},
		{name: "IPv6 client behind an IPv6 proxy", proxies: trusted, remote: "[fd00::1]:443",
			xff: []string{"[2001:db8::5]:1234"}, proto: "HTTPS", ip: "2001:db8::5", https: true},
		{name: "proxy says http", proxies: trusted, remote: "127.0.0.1:1", proto: "http", ip: "127.0.0.1"},
		{name: "TLS connection", proxies: trusted, remote: "198.51.100.7:1", tls: true, proto: "http", ip: "198.51.100.7", https: true},
		{name: "IPv4-mapped remote", proxies: trusted, remote: "[::ffff:127.0.0.1]:1", xff: []string{"203.0.113.9"}, ip: "203.0.113.9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if c.proto != "" {
				r.Header.Set("X-Forwarded-Proto", c.proto)
			}
			if c.tls {
				r.TLS = &tls.ConnectionState{}
			}
			r = clientip.WithClient(r, c.proxies)
			require.Equal(t, c.ip, clientip.IP(r))
			require.Equal(t, c.https, clientip.RequestIsHTTPS(r))
		})
	}
	// Without WithClient: the connection, no header believed.
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:9"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	r.Header.Set("X-Forwarded-Proto", "https")
	require.Equal(t, "127.0.0.1", clientip.IP(r))
	require.False(t, clientip.RequestIsHTTPS(r))
}

func TestParseTrustedProxies(t *testing.T) {
	nets, err := config.ParseTrustedProxies(" 192.168.1.7/24 ,::1, ::ffff:10.0.0.1")
	require.NoError(t, err)
	require.Equal(t, "192.168.1.0/24", nets[0].String())
	require.Equal(t, "::1/128", nets[1].String())
	require.Equal(t, "10.0.0.1/32", nets[2].String())
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1/"} {
		_, err := config.ParseTrustedProxies(bad)
		require.Error(t, err, bad)
	}
	_, err = config.FromMap(map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8,nope"})
	require.ErrorContains(t, err, "TRUSTED_PROXIES")
}
