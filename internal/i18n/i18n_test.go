package i18n

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestEveryKeyInEveryLocale: a message added to one locale file and
// forgotten in another fails here, as does a translation whose {name}s
// differ from the original's.
func TestEveryKeyInEveryLocale(t *testing.T) {
	require.Equal(t, []string{"en", "id"}, Tags())
	en := MustGet(Default)
	require.NotEmpty(t, en.Keys())
	for _, tag := range Tags() {
		l := MustGet(tag)
		require.NotEmpty(t, l.Name(), tag)
		for _, other := range Tags() {
			o := MustGet(other)
			for _, k := range o.Keys() {
				require.True(t, l.Has(k), "locale %s lacks %q, which %s has", tag, k, other)
				require.Equal(t, o.Placeholders(k), l.Placeholders(k), "placeholders of %q in %s and %s", k, tag, other)
				require.NotEmpty(t, l.T(k), "%s: %q is empty", tag, k)
			}
		}
	}
}

func TestIndonesianDates(t *testing.T) {
	id := MustGet("id")
	wib := time.FixedZone("WIB", 7*3600)
	// A calendar date is printed as stored, whatever its zone.
	require.Equal(t, "Senin, 7 Desember 2026", id.Date(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)))
	require.Equal(t, "Senin, 7 Desember 2026", id.LongDate(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)))
	// 18:05 UTC on Sunday is 01:05 WIB on Monday.
	require.Equal(t, "Senin, 7 Desember 2026 pukul 01.05 WIB", id.DateTime(time.Date(2026, 12, 6, 18, 5, 0, 0, time.UTC), wib))
	require.Equal(t, "Jumat, 14 Agustus 2026", id.Date(time.Date(2026, 8, 14, 0, 0, 0, 0, time.UTC)))
	require.Equal(t, "", id.Date(time.Time{}))
	require.Equal(t, "", id.DateTime(time.Time{}, wib))

	jakarta, err := time.LoadLocation("Asia/Jakarta")
	require.NoError(t, err)
	require.Equal(t, "Rabu, 2 Desember 2026 pukul 14.30 WIB", id.DateTime(time.Date(2026, 12, 2, 7, 30, 0, 0, time.UTC), jakarta))
}

func TestEnglishDates(t *testing.T) {
	en := MustGet("en")
	jakarta, err := time.LoadLocation("Asia/Jakarta")
	require.NoError(t, err)
	require.Equal(t, "Tue, 15 Dec 2026", en.Date(time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC)))
	require.Equal(t, "Tuesday, 15 December 2026", en.LongDate(time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC)))
	require.Equal(t, "Wed, 2 Dec 2026 14:30 WIB", en.DateTime(time.Date(2026, 12, 2, 7, 30, 0, 0, time.UTC), jakarta))
}

func TestTranslate(t *testing.T) {
	id := MustGet("id")
	s, err := id.Translate("mail.greeting", "name", "Siti")
	require.NoError(t, err)
	require.Equal(t, "Halo Siti,", s)
	_, err = id.Translate("no.such.key")
	require.ErrorContains(t, err, `no message "no.such.key" in locale id`)
	_, err = id.Translate("mail.greeting")
	require.ErrorContains(t, err, "needs a value for {name}")
	_, err = id.Translate("mail.greeting", "name")
	require.ErrorContains(t, err, "name, value pairs")
	require.Equal(t, "no.such.key", id.T("no.such.key"))

	_, err = Get("fr")
	require.EqualError(t, err, `unknown locale "fr": must be one of en, id`)
}
