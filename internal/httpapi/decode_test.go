package httpapi

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
)

// FuzzDecodeBookingRequest checks that any body either decodes to a valid
// booking request or fails with a client error, never panicking and never
// letting an out-of-range value through.
func FuzzDecodeBookingRequest(f *testing.F) {
	for _, seed := range []string{
		`{"tour_id":1,"quantity":2}`,
		`{"tour_id":1,"quantity":0}`,
		`{"tour_id":-1,"quantity":1}`,
		`{"tour_id":"1","quantity":1}`,
		`{"tour_id":1,"quantity":1.5}`,
		`{"tour_id":1,"quantity":1e309}`,
		`{"tour_id":9223372036854775808,"quantity":1}`,
		`{"tour_id":1,"quantity":1,"extra":true}`,
		`{"tour_id":1,"quantity":1}{}`,
		`{"TOUR_ID":1,"Quantity":3}`,
		`[]`, `null`, ``, `{`, "\x00", `{"tour_id":1,"quantity":null}`,
	} {
		f.Add([]byte(seed))
	}
	const max = 10
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeBookingRequest(body)
		if err == nil {
			err = booking.ValidateBookParams(booking.BookParams{TourID: req.TourID, Quantity: req.Quantity}, max)
		}
		if err != nil {
			code := apperr.Code(err)
			if code != apperr.EMALFORMED && code != apperr.EINVALID {
				t.Fatalf("body %q: unexpected code %q (%v)", body, code, err)
			}
			if StatusOf(err) >= 500 {
				t.Fatalf("body %q: status %d", body, StatusOf(err))
			}
			return
		}
		if req.TourID <= 0 || req.Quantity < 1 || req.Quantity > max {
			t.Fatalf("body %q: accepted out-of-range request %+v", body, req)
		}
	})
}

func TestDecodeBookingRequest(t *testing.T) {
	req, err := decodeBookingRequest([]byte(` {"tour_id": 7, "quantity": 3} `))
	require.NoError(t, err)
	require.Equal(t, bookingRequest{TourID: 7, Quantity: 3}, req)
	req, err = decodeBookingRequest([]byte(`{"tour_id": 7, "quantity": 6}`))
	require.NoError(t, err)
	err = booking.ValidateBookParams(booking.BookParams{TourID: req.TourID, Quantity: req.Quantity}, 5)
	require.Equal(t, apperr.EINVALID, apperr.Code(err))
	var ae *apperr.Error
	require.ErrorAs(t, err, &ae)
	require.Contains(t, ae.Fields, "quantity")
	_, err = decodeBookingRequest([]byte(`{"tour_id": 7, "quantity": 1`))
	require.Equal(t, apperr.EMALFORMED, apperr.Code(err))
	require.Equal(t, bookingRequest{TourID: 1, Quantity: 2}.hash(), bookingRequest{TourID: 1, Quantity: 2}.hash())
	require.NotEqual(t, bookingRequest{TourID: 1, Quantity: 2}.hash(), bookingRequest{TourID: 12, Quantity: 2}.hash())
}
