// Package qr draws the QR code of a booking code, as the e-ticket and the
// ticket email show it. It imports nothing of Tripin's.
package qr

import (
	"errors"
	"fmt"

	qrcode "github.com/skip2/go-qrcode"
)

// Size is the width and height, in pixels, of the images PNG returns.
const Size = 256

// PNG returns a Size×Size PNG QR code of content (a booking code), at
// medium error correction so a crumpled printout still scans.
func PNG(content string) ([]byte, error) {
	if content == "" {
		return nil, errors.New("qr: empty content")
	}
	png, err := qrcode.Encode(content, qrcode.Medium, Size)
	if err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	return png, nil
}
