package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/tripintravel/tripin/internal/apperr"
)

// DecodeJSON reads r's body (already limited by the body-size middleware)
// into dst, which must be a pointer to a struct. Unknown fields and values
// of the wrong type fail with EINVALID naming the field; anything that is
// not one JSON object fails with EMALFORMED; a body over the limit fails
// with ETOOLARGE.
func DecodeJSON(r *http.Request, dst any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return readError(err)
	}
	return decodeJSONBytes(body, dst)
}

func readError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return apperr.Errorf(apperr.ETOOLARGE, "The request body is larger than %d bytes.", mbe.Limit)
	}
	return apperr.Errorf(apperr.EMALFORMED, "The request body could not be read.")
}

func decodeJSONBytes(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return apperr.Errorf(apperr.EMALFORMED, "The request body is empty; a JSON object is expected.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apperr.Errorf(apperr.EMALFORMED, "The request body must contain a single JSON object.")
	}
	return nil
}

func decodeError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syn):
		return apperr.Errorf(apperr.EMALFORMED, "The request body is not valid JSON (error at byte %d).", syn.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.Errorf(apperr.EMALFORMED, "The request body is not valid JSON (it ends too early).")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return apperr.Errorf(apperr.EMALFORMED, "The request body must be a JSON object.")
		}
		return apperr.Invalid(map[string]string{
			typ.Field: fmt.Sprintf("The %s must be %s.", typ.Field, describeType(typ.Type)),
		})
	}
	msg := err.Error()
	if i := strings.Index(msg, "unknown field "); i >= 0 {
		name := strings.Trim(msg[i+len("unknown field "):], `"`)
		return apperr.Invalid(map[string]string{name: "The " + name + " field is not allowed."})
	}
	return apperr.Errorf(apperr.EMALFORMED, "The request body is not a valid JSON object.")
}

func describeType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}
