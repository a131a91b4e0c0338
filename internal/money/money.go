// Package money formats amounts of money for people to read: prices and
// totals in emails, e-tickets, payment pages, notifications and the
// dashboard. It imports nothing of Tripin's.
package money

import "strconv"

// FormatRupiah formats a whole-rupiah amount the Indonesian way, with dots
// between thousands and no decimals: 1500000 becomes "Rp1.500.000".
func FormatRupiah(amount int64) string {
	neg := amount < 0
	// Work on the unsigned magnitude so that math.MinInt64 formats too.
	u := uint64(amount)
	if neg {
		u = -u
	}
	digits := strconv.FormatUint(u, 10)
	out := make([]byte, 0, len(digits)+len(digits)/3+3)
	if neg {
		out = append(out, '-')
	}
	out = append(out, "Rp"...)
	for i := 0; i < len(digits); i++ {
		if i > 0 && (len(digits)-i)%3 == 0 {
			out = append(out, '.')
		}
		out = append(out, digits[i])
	}
	return string(out)
}
