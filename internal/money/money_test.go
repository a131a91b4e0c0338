package money_test

import (
	"math"
	"testing"

	"github.com/tripintravel/tripin/internal/money"
)

func TestFormatRupiah(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{0, "Rp0"},
		{7, "Rp7"},
		{999, "Rp999"},
		{1000, "Rp1.000"},
		{15000, "Rp15.000"},
		{150000, "Rp150.000"},
		{1500000, "Rp1.500.000"},
		{12345678, "Rp12.345.678"},
		{1000000000, "Rp1.000.000.000"},
		{-2500, "-Rp2.500"},
		{math.MaxInt64, "Rp9.223.372.036.854.775.807"},
		{math.MinInt64, "-Rp9.223.372.036.854.775.808"},
	} {
		if got := money.FormatRupiah(tc.in); got != tc.want {
			t.Errorf("FormatRupiah(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
