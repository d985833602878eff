package apptest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The checker must fail on drift, or the suite's validation proves nothing.
func TestContractCatchesDrift(t *testing.T) {
	c, err := LoadContract()
	if err != nil {
		t.Fatal(err)
	}
	if !c.Doc().IsOpenAPI31OrLater() {
		t.Fatalf("openapi = %q, want 3.1", c.Doc().OpenAPI)
	}
	hdr := func(contentType string) http.Header {
		h := http.Header{}
		h.Set("X-Request-ID", "abc")
		if contentType != "" {
			h.Set("Content-Type", contentType)
		}
		return h
	}
	user := `{"id":"3f0c6a55-1b7e-4c0f-9a53-6f1f1d7b2c11","email":"a@example.com","created_at":"2026-11-28T12:00:00Z","status":{"status":"active"},"role":"user","mfa_enabled":false}`
	get := func(path, token string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		return r
	}
	post := func(path, body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	creds := `{"email":"a@example.com","password":"passw0rd-x"}`
	tests := []struct {
		name    string
		ex      exchange
		wantErr string
	}{
		{"OK", exchange{req: get("/auth/me", "t"), status: 200, header: hdr("application/json"), body: []byte(user)}, ""},
		{"MissingField", exchange{req: get("/auth/me", "t"), status: 200, header: hdr("application/json"),
			body: []byte(strings.Replace(user, `,"role":"user"`, "", 1))}, "role"},
		{"ExtraField", exchange{req: get("/auth/me", "t"), status: 200, header: hdr("application/json"),
			body: []byte(strings.Replace(user, `"role":"user"`, `"role":"user","password_hash":"x"`, 1))}, "password_hash"},
		{"BadStatusVariant", exchange{req: get("/auth/me", "t"), status: 200, header: hdr("application/json"),
			body: []byte(strings.Replace(user, `"active"`, `"banned"`, 1))}, "breaks"},
		{"UndocumentedStatus", exchange{req: get("/auth/me", "t"), status: 418, header: hdr("application/json"),
			body: []byte(`{}`)}, "418"},
		{"UndocumentedRoute", exchange{req: get("/secret", ""), status: 200, header: hdr("application/json"),
			body: []byte(`{}`)}, "not in openapi.json"},
		{"NotFoundShape", exchange{req: get("/secret", ""), status: 404, header: hdr("application/json"),
			body: []byte(`{"error":"not found: x"}`)}, "Error"},
		{"NoRequestID", exchange{req: get("/auth/me", "t"), status: 200, header: http.Header{"Content-Type": {"application/json"}},
			body: []byte(user)}, "X-Request-ID"},
		{"InvalidRequestAccepted", exchange{req: post("/auth/register", `{"email":1}`), reqBody: []byte(`{"email":1}`), status: 201,
			header: hdr("application/json"), body: []byte(`{"type":"success","data":` + user + `}`)}, "request POST /auth/register"},
		{"InvalidRequestRefused", exchange{req: post("/auth/register", `{"email":1}`), reqBody: []byte(`{"email":1}`), status: 400,
			header: hdr("application/json"), body: []byte(`{"error":"validation error: x","code":"validation_error","request_id":"abc"}`)}, ""},
		{"ValidLogin", exchange{req: post("/auth/login", creds), reqBody: []byte(creds), status: 200, header: hdr("application/json"),
			body: []byte(`{"token":"x","token_type":"Bearer","expires_in":86400,"expires_at":"2026-11-29T12:00:00Z","refresh_token":"Jm1x0qYxQ3m4bq3v0o6mTBO9cX0ZyH3tQ8m2w9gQf1c","refresh_expires_at":"2026-12-29T12:00:00Z","session_id":"0b1c6a4e-3f7d-4a1e-9b2f-5d8c7e6f4a3b"}`)}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.check(tc.ex)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("drift not caught, want error containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}
