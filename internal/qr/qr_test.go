package qr_test

import (
	"bytes"
	"image/png"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/internal/qr"
)

func TestPNG(t *testing.T) {
	b, err := qr.PNG("TRP-7K2M9QXA")
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(b))
	require.NoError(t, err)
	require.Equal(t, qr.Size, img.Bounds().Dx())
	require.Equal(t, qr.Size, img.Bounds().Dy())

	// The same code always draws the same image, and another code another
	// one: the ticket page and the email show the same QR code.
	again, err := qr.PNG("TRP-7K2M9QXA")
	require.NoError(t, err)
	require.Equal(t, b, again)
	other, err := qr.PNG("TRP-4F8H2JWB")
	require.NoError(t, err)
	require.NotEqual(t, b, other)
}

func TestPNGRefusesEmptyContent(t *testing.T) {
	_, err := qr.PNG("")
	require.ErrorContains(t, err, "empty content")
}
