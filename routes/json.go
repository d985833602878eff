// Package routes holds the HTTP handlers, one file per resource, and a Register function per
// resource that shows its group and middleware order in one place.
package routes

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/example/authapi/models"
)

// userJSON is the wire shape of a user; the password hash has no field here, so it cannot leak.
type userJSON struct {
	ID        string     `json:"id"`
	Email     string     `json:"email"`
	CreatedAt string     `json:"created_at"`
	Status    statusJSON `json:"status"`
	Role      string     `json:"role"`
}

// statusJSON keeps the old service's tagged shape: {"status":"suspended","reason":…,"until":…}.
type statusJSON struct {
	Status string  `json:"status"`
	Reason *string `json:"reason,omitempty"`
	Until  *string `json:"until,omitempty"`
	// suspended carries reason and until always, null when unset; other variants carry neither.
	suspended bool
}

func (s statusJSON) MarshalJSON() ([]byte, error) {
	if !s.suspended {
		return json.Marshal(struct {
			Status string `json:"status"`
		}{s.Status})
	}
	reason := ""
	if s.Reason != nil {
		reason = *s.Reason
	}
	return json.Marshal(struct {
		Status string  `json:"status"`
		Reason string  `json:"reason"`
		Until  *string `json:"until"`
	}{s.Status, reason, s.Until})
}

func newUserJSON(u *models.User) userJSON {
	st := statusJSON{Status: string(u.Status), suspended: u.Status == models.StatusSuspended}
	if st.suspended {
		st.Reason = u.SuspensionReason
		if u.SuspendedUntil != nil {
			until := u.SuspendedUntil.UTC().Format(time.RFC3339)
			st.Until = &until
		}
	}
	return userJSON{
		ID:        u.ID.String(),
		Email:     u.Email,
		CreatedAt: u.CreatedAt.UTC().Format(time.RFC3339Nano),
		Status:    st,
		Role:      string(u.Role),
	}
}

// credentials is the body of register, login and each batch item. Pointers tell a missing
// (or null) field from an empty one.
type credentials struct {
	Email    *string
	Password *string
}

// Fixed decoding messages: none of them quotes the input, so a password or email sent in a
// malformed body never comes back in an error (nor lands in a log that records it).
func errMalformed() error { return models.Errorf(models.CodeValidation, "malformed JSON body") }

func errTrailing() error {
	return models.Errorf(models.CodeValidation, "request body must hold one JSON value")
}

func errDuplicate() error {
	return models.Errorf(models.CodeValidation, "duplicate name in JSON object")
}

// decodeValue reads body as exactly one JSON value, strictly, so that no proxy, gateway or log
// pipeline in front of the service can read a body differently from it: anything but
// whitespace after the value, a name that appears twice in any object at any depth, invalid
// UTF-8 (raw, or an escaped lone surrogate) are all 400s. encoding/json accepts each of these
// (it keeps the last duplicate and replaces bad UTF-8 with U+FFFD); jsontext refuses them by
// default. The value returned is a copy that does not alias body.
func decodeValue(body []byte) (jsontext.Value, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	v, err := dec.ReadValue()
	if err != nil {
		return nil, syntaxError(err)
	}
	v = v.Clone() // ReadValue's result points into the decoder's buffer
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, errTrailing()
	}
	return v, nil
}

// syntaxError names a duplicate name; every other syntax error (invalid UTF-8 included: JSON
// text is UTF-8, RFC 8259) is "malformed", since the details would echo the input.
func syntaxError(err error) error {
	if errors.Is(err, jsontext.ErrDuplicateName) {
		return errDuplicate()
	}
	return errMalformed()
}

// decodeObjectFields reads a JSON object value and returns the string members named in want
// (nil when absent or null). Names are matched exactly: "EMAIL" is an unknown field, and
// unknown fields are ignored. A member of another type is a 400 naming the field.
func decodeObjectFields(v jsontext.Value, want ...string) (map[string]*string, error) {
	if v.Kind() != '{' {
		return nil, models.Errorf(models.CodeValidation, "request body must be a JSON object")
	}
	out := make(map[string]*string, len(want))
	dec := jsontext.NewDecoder(bytes.NewReader(v))
	if _, err := dec.ReadToken(); err != nil { // '{'
		return nil, syntaxError(err)
	}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return nil, syntaxError(err)
		}
		field := name.String() // before the next read, which voids the token
		member, err := dec.ReadValue()
		if err != nil {
			return nil, syntaxError(err)
		}
		if !slices.Contains(want, field) {
			continue
		}
		switch member.Kind() {
		case 'n':
			out[field] = nil
		case '"':
			raw, err := jsontext.AppendUnquote(nil, member)
			if err != nil {
				return nil, syntaxError(err)
			}
			s := string(raw)
			out[field] = &s
		default:
			return nil, models.Errorf(models.CodeValidation, "field %s must be a string", field)
		}
	}
	return out, nil
}

// decodeFields reads a body that is one JSON object and returns its string members named in
// names (nil when absent or null), as strictly as every body (see decodeValue). A null body
// has no members, as with encoding/json before.
func decodeFields(body []byte, names ...string) (map[string]*string, error) {
	v, err := decodeValue(body)
	if err != nil {
		return nil, err
	}
	if v.Kind() == 'n' {
		return map[string]*string{}, nil
	}
	return decodeObjectFields(v, names...)
}

// decodeCredentialsValue reads the {"email","password"} object of a body or batch item.
func decodeCredentialsValue(v jsontext.Value) (credentials, error) {
	if v.Kind() == 'n' {
		// A null body decodes to an empty object, as it always has: "email is required".
		return credentials{}, nil
	}
	fields, err := decodeObjectFields(v, "email", "password")
	if err != nil {
		return credentials{}, err
	}
	return credentials{Email: fields["email"], Password: fields["password"]}, nil
}

// required returns the value of a required string field or a 400 naming it.
func required(field string, v *string) (string, error) {
	if v == nil {
		return "", models.Errorf(models.CodeValidation, "%s is required", field)
	}
	return *v, nil
}

// decodeCredentials decodes and requires both fields of a credentials body.
func decodeCredentials(body []byte) (email, password string, err error) {
	v, err := decodeValue(body)
	if err != nil {
		return "", "", err
	}
	in, err := decodeCredentialsValue(v)
	if err != nil {
		return "", "", err
	}
	return in.fields()
}

func (in credentials) fields() (email, password string, err error) {
	if email, err = required("email", in.Email); err != nil {
		return "", "", err
	}
	if password, err = required("password", in.Password); err != nil {
		return "", "", err
	}
	return email, password, nil
}

// dataJSON is the old service's success wrapper: {"type":"success","data":…}.
type dataJSON struct {
	Type string `json:"type"`
	Data any    `json:"data"`
}

func success(data any) dataJSON { return dataJSON{Type: "success", Data: data} }
