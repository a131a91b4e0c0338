package mail

import (
	"errors"
	"fmt"

	qrcode "github.com/skip2/go-qrcode"
)

// QRCodePNG returns a 256×256 PNG QR code of content (a booking code), at
// medium error correction so a crumpled printout still scans.
func QRCodePNG(content string) ([]byte, error) {
	if content == "" {
		return nil, errors.New("mail: qr code: empty content")
	}
	png, err := qrcode.Encode(content, qrcode.Medium, 256)
	if err != nil {
		return nil, fmt.Errorf("mail: qr code: %w", err)
	}
	return png, nil
}
