package apptest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// Client sends requests to a Fiber app in process, through the real fasthttp stack. A client of
// the public listener checks every exchange against the OpenAPI document.
type Client struct {
	tb       testing.TB
	app      *fiber.App
	contract *Contract
}

// NewClient returns a Client for the public listener's app: every request it sends and every
// response it receives is validated against routes/openapi.json, failing the test on drift.
func NewClient(tb testing.TB, app *fiber.App) *Client {
	tb.Helper()
	contract, err := LoadContract()
	if err != nil {
		tb.Fatalf("%v", err)
	}
	return &Client{tb: tb, app: app, contract: contract}
}

// NewAdminClient returns a Client for the admin listener, which the public document does not
// describe, so its exchanges are not validated.
func NewAdminClient(tb testing.TB, app *fiber.App) *Client { return &Client{tb: tb, app: app} }

// Response is a received response with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map, failing the test when it is not a JSON object.
func (r Response) JSON(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		tb.Fatalf("response body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// Decode decodes the body into v.
func (r Response) Decode(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("decode response body: %v: %s", err, r.Body)
	}
}

// Request is what Do sends. Body is sent as is when it is a string or []byte, else encoded as
// JSON; a non-nil body gets Content-Type application/json unless Header sets one (set it to ""
// to send none).
type Request struct {
	Method string
	Path   string
	Body   any
	Header map[string]string
	Token  string
	// SkipRequestValidation is for requests that break the contract on purpose (malformed
	// JSON, wrong content type, oversized bodies); their responses are still validated.
	SkipRequestValidation bool
}

// Do sends req and returns the response, failing the test on transport errors.
func (c *Client) Do(req Request) Response {
	c.tb.Helper()
	var raw []byte
	if req.Body != nil {
		switch b := req.Body.(type) {
		case string:
			raw = []byte(b)
		case []byte:
			raw = b
		default:
			var err error
			if raw, err = json.Marshal(b); err != nil {
				c.tb.Fatalf("encode request body: %v", err)
			}
		}
	}
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(raw)
	}
	httpReq := httptest.NewRequest(req.Method, req.Path, body)
	if req.Body != nil {
		httpReq.Header.Set("Content-Type", "application/json")
	}
	if req.Token != "" {
		httpReq.Header.Set("Authorization", "Bearer "+req.Token)
	}
	for k, v := range req.Header {
		if v == "" {
			httpReq.Header.Del(k)
			continue
		}
		httpReq.Header.Set(k, v)
	}
	resp, err := c.app.Test(httpReq, -1) // no 1 s default: bcrypt and real databases take time
	if err != nil {
		c.tb.Fatalf("%s %s: %v", req.Method, req.Path, err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		c.tb.Fatalf("read response: %v", err)
	}
	if c.contract != nil {
		// Errorf, not Fatalf: tests call Do from several goroutines at once.
		if err := c.contract.check(exchange{
			req: httpReq, reqBody: raw, skipRequest: req.SkipRequestValidation,
			status: resp.StatusCode, header: resp.Header, body: respBody,
		}); err != nil {
			c.tb.Errorf("openapi: %v", err)
		}
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: respBody}
}

// Get sends GET path with token (may be empty).
func (c *Client) Get(path, token string) Response {
	c.tb.Helper()
	return c.Do(Request{Method: http.MethodGet, Path: path, Token: token})
}

// Post sends POST path with a JSON body and token (may be empty).
func (c *Client) Post(path string, body any, token string) Response {
	c.tb.Helper()
	return c.Do(Request{Method: http.MethodPost, Path: path, Body: body, Token: token})
}
