package booking

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/apperr"
)

// TestValidateBookParams: the one check of a booking request names each
// bad field with the message the API shows, and lets a good request pass.
func TestValidateBookParams(t *testing.T) {
	for _, tc := range []struct {
		name   string
		p      BookParams
		fields map[string]string
	}{
		{"good", BookParams{TourID: 1, Quantity: 5}, nil},
		{"good with key", BookParams{TourID: 1, Quantity: 1, IdempotencyKey: strings.Repeat("k", 255)}, nil},
		{"no tour", BookParams{Quantity: 1}, map[string]string{
			"tour_id": "The tour_id field is required and must be a positive integer."}},
		{"zero quantity", BookParams{TourID: 1}, map[string]string{
			"quantity": "The quantity must be between 1 and 5 seats per booking."}},
		{"too many", BookParams{TourID: 1, Quantity: 6}, map[string]string{
			"quantity": "The quantity must be between 1 and 5 seats per booking."}},
		{"long key", BookParams{TourID: 1, Quantity: 1, IdempotencyKey: strings.Repeat("k", 256)}, map[string]string{
			"Idempotency-Key": "The Idempotency-Key header must be 1 to 255 printable ASCII characters."}},
		{"control in key", BookParams{TourID: 1, Quantity: 1, IdempotencyKey: "a\nb"}, map[string]string{
			"Idempotency-Key": "The Idempotency-Key header must be 1 to 255 printable ASCII characters."}},
		{"non-ASCII key", BookParams{TourID: 1, Quantity: 1, IdempotencyKey: "clé"}, map[string]string{
			"Idempotency-Key": "The Idempotency-Key header must be 1 to 255 printable ASCII characters."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateBookParams(tc.p, 5)
			if tc.fields == nil {
				require.NoError(t, err)
				return
			}
			var ae *apperr.Error
			require.ErrorAs(t, err, &ae)
			require.Equal(t, apperr.EINVALID, ae.Code)
			require.Equal(t, tc.fields, ae.Fields)
		})
	}
}
