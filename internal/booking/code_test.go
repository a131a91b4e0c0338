package booking

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewCode(t *testing.T) {
	jakarta, err := time.LoadLocation("Asia/Jakarta")
	require.NoError(t, err)
	// 20:00 UTC on the 26th is already the 27th in Jakarta.
	at := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	shape := regexp.MustCompile(`^TRP-20261127-[2-9A-HJ-NP-Z]{6}$`)
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		c := NewCode(at, jakarta)
		require.Regexp(t, shape, c)
		require.True(t, ValidCode(c), c)
		seen[c] = true
	}
	require.Greater(t, len(seen), 1990, "codes are random")
	require.Equal(t, "TRP-20261126-", NewCode(at, time.UTC)[:13])
}

func TestValidCode(t *testing.T) {
	for code, want := range map[string]bool{
		"TRP-20261127-7Q4K2M":  true,
		"TRP-20261127-7Q4K2":   false,
		"TRP-20261127-7Q4K2O":  false, // O is not in the alphabet
		"TRP-20261327-7Q4K2M":  false, // month 13
		"TRX-20261127-7Q4K2M":  false,
		"TRP-20261127_7Q4K2M":  false,
		"trp-20261127-7q4k2m":  false,
		"TRP-20261127-7Q4K2M ": false,
	} {
		require.Equal(t, want, ValidCode(code), code)
	}
}

func TestStatus(t *testing.T) {
	for s, holds := range map[Status]bool{
		StatusPending: true, StatusPaid: true, StatusExpired: false, StatusCancelled: false,
		StatusFailed: false, StatusRefunded: false,
	} {
		require.True(t, s.Valid())
		require.Equal(t, holds, s.HoldsSeats(), s)
	}
	require.False(t, Status("lost").Valid())
}
