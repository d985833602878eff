package app

import (
	"errors"
	"log/slog"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/example/authapi/middleware"
	"github.com/example/authapi/models"
)

// statusOf is the one mapping from error codes to HTTP statuses.
func statusOf(code models.Code) int {
	switch code {
	case models.CodeValidation:
		return fiber.StatusBadRequest
	case models.CodeUnauthorized:
		return fiber.StatusUnauthorized
	case models.CodeForbidden:
		return fiber.StatusForbidden
	case models.CodeNotFound:
		return fiber.StatusNotFound
	case models.CodeMethodNotAllowed:
		return fiber.StatusMethodNotAllowed
	case models.CodeRequestTimeout:
		return fiber.StatusRequestTimeout
	case models.CodeConflict:
		return fiber.StatusConflict
	case models.CodePayloadTooLarge:
		return fiber.StatusRequestEntityTooLarge
	case models.CodeUnsupportedMedia:
		return fiber.StatusUnsupportedMediaType
	case models.CodeHeaderTooLarge:
		return fiber.StatusRequestHeaderFieldsTooLarge
	case models.CodeRateLimited:
		return fiber.StatusTooManyRequests
	case models.CodeUnavailable:
		return fiber.StatusServiceUnavailable
	}
	return fiber.StatusInternalServerError
}

type errorJSON struct {
	Error     string `json:"error"`
	Code      string `json:"code"`
	RequestID string `json:"request_id"`
}

// errorHandler is the ONE place that turns an error into an HTTP response. Handlers and
// middleware return errors; this picks the status, the body in the contract's shape and the
// headers, and logs what the client must not see.
func errorHandler(logger *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		requestID := middleware.RequestIDOf(c)
		e := domainError(c, err)
		status := statusOf(e.Code)
		switch {
		case status >= 500 && e.Code != models.CodeUnavailable:
			logger.Error("internal error", "request_id", requestID, "method", c.Method(), "path", c.Path(), "err", err)
		case e.Code == models.CodeUnavailable:
			logger.Warn("dependency unavailable", "request_id", requestID, "method", c.Method(), "path", c.Path(), "err", err)
		}
		if e.Code == models.CodeUnauthorized {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer`)
		}
		if e.RetryAfter > 0 {
			secs := int((e.RetryAfter + 999_999_999) / 1_000_000_000) // round up, at least 1
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.Status(status).JSON(errorJSON{Error: models.PublicMessage(e), Code: string(e.Code), RequestID: requestID})
	}
}

// domainError turns framework errors (no route, body too large, …) into *models.Error;
// anything unknown becomes internal.
func domainError(c *fiber.Ctx, err error) *models.Error {
	var e *models.Error
	if errors.As(err, &e) {
		return e
	}
	var fe *fiber.Error
	if !errors.As(err, &fe) {
		return &models.Error{Code: models.CodeInternal, Err: err}
	}
	switch fe.Code {
	case fiber.StatusNotFound:
		return models.Errorf(models.CodeNotFound, "no such route")
	case fiber.StatusMethodNotAllowed:
		return models.Errorf(models.CodeMethodNotAllowed, "%s is not allowed here", c.Method())
	case fiber.StatusRequestEntityTooLarge:
		return models.Errorf(models.CodePayloadTooLarge, "request body too large")
	case fiber.StatusUnsupportedMediaType:
		return models.Errorf(models.CodeUnsupportedMedia, "content type must be application/json")
	case fiber.StatusRequestHeaderFieldsTooLarge:
		// fasthttp could not fit the request line and headers in its read buffer
		// (HeaderLimitBytes): a bearer token or cookie too large, not a malformed request.
		return models.Errorf(models.CodeHeaderTooLarge, "request headers exceed %d bytes", HeaderLimitBytes)
	case fiber.StatusRequestTimeout:
		// fasthttp gave up reading a request (HTTP_READ_TIMEOUT), often on a connection a
		// client opened and never used. It must stay a 408: HTTP clients (Go's Transport,
		// browsers) recognise a 408 on an idle connection as "server closed it" and retry
		// elsewhere, where a 400 would be taken for the answer to their next request.
		return models.Errorf(models.CodeRequestTimeout, "request not received in time")
	case fiber.StatusServiceUnavailable:
		return &models.Error{Code: models.CodeUnavailable, Message: "service unavailable", Err: err}
	}
	if fe.Code >= 400 && fe.Code < 500 {
		// Malformed requests that fasthttp or Fiber refused: a 400 in the contract's shape.
		return &models.Error{Code: models.CodeValidation, Message: "malformed request", Err: err}
	}
	return &models.Error{Code: models.CodeInternal, Err: err}
}
