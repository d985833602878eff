package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/example/authapi/routes"
)

// Contract checks exchanges against the service's embedded OpenAPI document, so a route, field
// or status that drifts from the document fails the test that exercised it.
type Contract struct {
	doc    *openapi3.T
	router routers.Router
}

// LoadContract parses and validates the embedded document.
func LoadContract() (*Contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(routes.OpenAPIDocument())
	if err != nil {
		return nil, fmt.Errorf("load openapi.json: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate openapi.json: %w", err)
	}
	// Route on paths only: the document's server URL names a developer's host, while test
	// requests go to example.com in process. A copy, so the served document is untouched.
	routed := *doc
	routed.Servers = nil
	router, err := legacy.NewRouter(&routed)
	if err != nil {
		return nil, fmt.Errorf("route openapi.json: %w", err)
	}
	return &Contract{doc: doc, router: router}, nil
}

// Doc returns the parsed document.
func (c *Contract) Doc() *openapi3.T { return c.doc }

// exchange is one request and its response, as CheckExchange sees them.
type exchange struct {
	req         *http.Request
	reqBody     []byte
	skipRequest bool
	status      int
	header      http.Header
	body        []byte
}

// check returns every way ex departs from the document. A path the document does not name may
// only answer 404 or 405 with the error shape.
func (c *Contract) check(ex exchange) error {
	ctx := context.Background()
	req := ex.req.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(ex.reqBody))
	if req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "" {
		// A CORS preflight, answered by the CORS middleware (mounted only with an allowlist);
		// it is a browser mechanism, not an operation of the API.
		return nil
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		if ex.status != http.StatusNotFound && ex.status != http.StatusMethodNotAllowed {
			return fmt.Errorf("%s %s is not in openapi.json but answered %d", req.Method, req.URL.Path, ex.status)
		}
		return c.checkErrorBody(ex.body)
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc, // the tests check auth itself
		IncludeResponseStatus: true,
		MultiError:            true,
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if !ex.skipRequest {
		// A request the document refuses must be refused by the service too (any 4xx): tests
		// send malformed bodies, wrong content types and bad query values on purpose, and the
		// service and the document agree on those. The service accepting one is drift.
		err := openapi3filter.ValidateRequest(ctx, in)
		if err != nil && (ex.status < 400 || ex.status >= 500) {
			return fmt.Errorf("request %s %s breaks openapi.json but answered %d: %w", req.Method, req.URL.Path, ex.status, err)
		}
	}
	respOpts := *opts
	if mt, _, _ := mime.ParseMediaType(ex.header.Get("Content-Type")); mt != "" && mt != "application/json" {
		// kin decodes JSON-like bodies only; for the page and its script the document's
		// media type is checked here and the body is not decoded.
		resp := route.Operation.Responses.Status(ex.status)
		if resp == nil || resp.Value == nil || resp.Value.Content.Get(mt) == nil {
			return fmt.Errorf("response %d to %s %s: content type %q is not in openapi.json", ex.status, req.Method, req.URL.Path, mt)
		}
		respOpts.ExcludeResponseBody = true
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 ex.status,
		Header:                 ex.header,
		Options:                &respOpts,
	}
	out.SetBodyBytes(ex.body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("response %d to %s %s breaks openapi.json: %w", ex.status, req.Method, req.URL.Path, err)
	}
	if ex.header.Get("X-Request-ID") == "" {
		return fmt.Errorf("response %d to %s %s has no X-Request-ID", ex.status, req.Method, req.URL.Path)
	}
	return nil
}

func (c *Contract) checkErrorBody(body []byte) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("error body is not JSON: %w: %s", err, body)
	}
	schema := c.doc.Components.Schemas["Error"].Value
	if err := schema.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
		return fmt.Errorf("error body breaks openapi.json Error: %w", err)
	}
	return nil
}
