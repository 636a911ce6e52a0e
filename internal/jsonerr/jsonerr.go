// Package jsonerr turns encoding/json's errors into words for the people
// who sent the JSON: "name must be a string, not a number" instead of
// "cannot unmarshal number into Go struct field ContactJSON.name of type
// string". Go type names are ours, not the client's, and say nothing to
// them.
package jsonerr

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// Describe says what is wrong with a JSON document that failed to decode,
// naming the field (as a dotted path) and never a Go type.
func Describe(err error) string {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return "the body is empty: send a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends too early"
	case errors.As(err, &syn):
		return fmt.Sprintf("not valid JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		want := kind(typ.Type)
		if typ.Field == "" {
			return fmt.Sprintf("expected %s, not %s", want, article(typ.Value))
		}
		return fmt.Sprintf("%s must be %s, not %s", typ.Field, want, article(typ.Value))
	}
	s := err.Error()
	if f, ok := strings.CutPrefix(s, "json: unknown field "); ok {
		return "unknown field " + f
	}
	s = strings.TrimPrefix(s, "json: ")
	if len(s) > 160 {
		s = s[:160]
	}
	return s
}

// kind names what a Go type accepts in JSON.
func kind(t reflect.Type) string {
	if t == nil {
		return "another value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another value"
}

// article writes a JSON value kind as encoding/json names it ("number",
// "string", "array", "object", "bool", or "number 1.5") with its article.
func article(v string) string {
	switch {
	case v == "array":
		return "a list"
	case v == "object":
		return "an object"
	case v == "bool":
		return "true or false"
	case strings.HasPrefix(v, "number"):
		return "a number" + strings.TrimPrefix(v, "number")
	}
	return "a " + v
}
