package booking

import (
	"crypto/rand"
	"time"
)

// codeAlphabet has no 0, 1, I or O, so codes read back over the phone
// without confusion. Its 32 letters make six of them 30 random bits: a
// collision needs about 33,000 bookings on one day, and the unique index
// turns the rare one into a retry.
const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// NewCode returns a booking code such as TRP-20261127-7Q4K2M: the booking's
// date in loc and six random letters.
func NewCode(t time.Time, loc *time.Location) string {
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		panic("booking: crypto/rand failed: " + err.Error())
	}
	b := make([]byte, 0, 19)
	b = append(b, "TRP-"...)
	b = t.In(loc).AppendFormat(b, "20060102")
	b = append(b, '-')
	for _, r := range rnd {
		b = append(b, codeAlphabet[r&31])
	}
	return string(b)
}

// ValidCode reports whether s has the shape of a booking code.
func ValidCode(s string) bool {
	if len(s) != 19 || s[:4] != "TRP-" || s[12] != '-' {
		return false
	}
	if _, err := time.Parse("20060102", s[4:12]); err != nil {
		return false
	}
	for i := 13; i < 19; i++ {
		ok := false
		for j := 0; j < len(codeAlphabet); j++ {
			if s[i] == codeAlphabet[j] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
