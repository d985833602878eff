// Package routes holds the HTTP handlers, one file per resource, and a Register function per
// resource that shows its group and middleware order in one place.
package routes

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"

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
// field from an empty one.
type credentials struct {
	Email    *string `json:"email"`
	Password *string `json:"password"`
}

// decodeJSON decodes body into v, turning every decoding failure into a 400 that names the
// problem without echoing the input. Unknown fields are ignored.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return models.Errorf(models.CodeValidation, "request body must hold one JSON value")
	}
	return nil
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		kind := expectedKind(typeErr.Type.Kind().String())
		if typeErr.Field == "" {
			return models.Errorf(models.CodeValidation, "request body must be a JSON %s", kind)
		}
		return models.Errorf(models.CodeValidation, "field %s must be a %s", typeErr.Field, kind)
	}
	// Syntax errors, an empty body, truncated JSON: the details would echo the input.
	return models.Errorf(models.CodeValidation, "malformed JSON body")
}

func expectedKind(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "struct", "map":
		return "object"
	case "slice":
		return "array"
	}
	return kind
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
	var in credentials
	if err := decodeJSON(body, &in); err != nil {
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
