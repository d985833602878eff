package app

import (
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/recover"

	"github.com/example/authapi/middleware"
	"github.com/example/authapi/models"
	"github.com/example/authapi/routes"
)

// HeaderLimitBytes bounds the request line and headers of one request (the contract's "at
// least 8 KiB"). Larger ones get 431.
const HeaderLimitBytes = 8 << 10

// fiberConfig is the configuration both listeners share: the contract's body limit, bounded
// timeouts (unlimited ones make Shutdown wait forever on idle keep-alive connections), the one
// error handler, and no Server banner.
func (a *App) fiberConfig() fiber.Config {
	cfg := fiber.Config{
		BodyLimit:             a.cfg.HTTP.BodyLimitBytes,
		ReadTimeout:           a.cfg.HTTP.ReadTimeout,
		WriteTimeout:          a.cfg.HTTP.WriteTimeout,
		IdleTimeout:           a.cfg.HTTP.IdleTimeout,
		ErrorHandler:          errorHandler(a.logger),
		DisableStartupMessage: true,
		// fasthttp reads the request line and all headers into one buffer of this size; a
		// larger header block is a 431 (see errors.go). 4 KiB by default, which a bearer token
		// with a few claims and a proxy's headers can outgrow.
		ReadBufferSize: HeaderLimitBytes,
		// fasthttp would parse a multipart/form-data body as it reads it, before any handler
		// could refuse it; nothing here takes multipart, so no decoder runs that we never call.
		DisablePreParseMultipartForm: true,
	}
	if len(a.cfg.HTTP.TrustedProxies) > 0 {
		// X-Forwarded-For is believed only from these peers; from anyone else c.IP() is the
		// socket peer, so a client cannot spoof its address to dodge the login limits.
		cfg.ProxyHeader = fiber.HeaderXForwardedFor
		cfg.EnableTrustedProxyCheck = true
		cfg.TrustedProxies = a.cfg.HTTP.TrustedProxies
		cfg.EnableIPValidation = true
	}
	return cfg
}

// newFiber returns a Fiber app with the middleware every response of both listeners needs:
// request id, metrics, access log, then the error handler, then panic recovery.
func (a *App) newFiber(instrument bool) *fiber.App {
	f := fiber.New(a.fiberConfig())
	// Keep-alive responses during shutdown carry Connection: close, so clients reconnect
	// elsewhere instead of reusing a connection that is about to go.
	f.Server().CloseOnShutdown = true
	off := chainOff() // nil outside the bench build: everything is mounted
	if !off["requestid"] {
		f.Use(middleware.RequestID())
	}
	if instrument && !off["metrics"] {
		f.Use(a.metrics.Instrument())
	}
	if !off["accesslog"] {
		f.Use(middleware.AccessLog(a.logger, middleware.ClientIP(a.cfg.HTTP.TrustedProxies)))
	}
	f.Use(middleware.HandleErrors(errorHandler(a.logger)))
	if !off["recover"] {
		f.Use(recover.New())
	}
	if !off["encoding"] {
		// Before any route, so no handler ever sees an encoded body.
		f.Use(middleware.RefuseContentEncoding())
	}
	return f
}

// newPublicApp builds the public listener: the API, /healthz, /openapi.json and /docs.
func (a *App) newPublicApp() *fiber.App {
	f := a.newFiber(true)
	off := chainOff()
	if !off["headers"] {
		f.Use(middleware.SecureHeaders())
	}
	if origins := a.cfg.HTTP.CORSAllowedOrigins; len(origins) > 0 {
		// Mounted only with an allowlist: Fiber's CORS default is "*".
		f.Use(cors.New(cors.Config{
			AllowOrigins:  strings.Join(origins, ","),
			AllowMethods:  "GET,POST,OPTIONS",
			AllowHeaders:  "Authorization,Content-Type,X-Request-ID",
			ExposeHeaders: "X-Request-ID,Retry-After,WWW-Authenticate",
			MaxAge:        int((10 * time.Minute).Seconds()),
		}))
	}

	health := a.health()
	routes.RegisterPublicHealth(f, health)
	// The API's description needs no database, so it is served while starting too.
	routes.RegisterDocs(f)
	// The public keys likewise: verifiers may fetch them before the schema is ready.
	keys := signingKeys(a.cfg.JWT)
	routes.RegisterJWKS(f, keys)
	// So are the pages behind the links in account mail.
	routes.RegisterPages(f)

	// Everything registered after this answers 503 until the schema is ready. Routes above it
	// (health) match first and never reach it.
	if !off["ready"] {
		f.Use(func(c *fiber.Ctx) error {
			if !a.schemaReady.Load() {
				middleware.LogLevel(c, slog.LevelInfo) // expected while starting: not an error
				return &models.Error{Code: models.CodeUnavailable, Message: "starting: database not ready", RetryAfter: time.Second}
			}
			return c.Next()
		})
	}

	// Each protected route lists this chain where it is registered (routes/auth.go, check.go,
	// account.go, users.go).
	auth := routes.Authn{
		JWT: middleware.JWT(middleware.JWTOptions{
			Secret: a.cfg.JWT.Secret, Keys: keys, Issuer: a.cfg.JWT.Issuer, Leeway: a.cfg.JWT.Leeway,
		}, a.metrics.TokenRejected),
		Whitelist: middleware.Whitelist(a.tokens, a.metrics.TokenRejected),
	}

	limits := a.cfg.Login
	limiter := models.NewLoginLimiter(a.rdb, models.LoginLimits{
		AccountAddr: models.LimitRule{Max: limits.AccountAddrMax, Window: limits.AccountAddrWindow},
		Account:     models.LimitRule{Max: limits.AccountMax, Window: limits.AccountWindow},
		Addr:        models.LimitRule{Max: limits.AddrMax, Window: limits.AddrWindow},
	}, a.cfg.Redis.Timeout)
	routes.RegisterAuth(f, &routes.Auth{
		Users:    a.users,
		Sessions: a.sessions,
		MFA:      a.mfa,
		Hasher:   a.hasher,
		Limiter:  limiter,
		Events:   a.metrics.AuthEvent,
		// Not c.IP(): Fiber takes the left-most X-Forwarded-For entry, which the client writes.
		ClientAddr: middleware.ClientAddr(a.cfg.HTTP.TrustedProxies),
		Accounts:   a.accounts,
		MailQueued: a.mailer.Notify,

		Registrations: models.NewRegisterLimiter(a.rdb,
			models.LimitRule{Max: a.cfg.Register.MaxPerAddr, Window: a.cfg.Register.Window}, a.cfg.Redis.Timeout),
	}, auth)
	routes.RegisterCheck(f, auth)
	mailLimits := a.cfg.Mail
	routes.RegisterAccount(f, &routes.Account{
		Users:    a.users,
		Accounts: a.accounts,
		Sessions: a.sessions,
		Hasher:   a.hasher,
		Limiter:  limiter,
		Requests: models.NewMailRequestLimiter(a.rdb, models.MailRequestLimits{
			PerEmail: mailLimits.RequestMaxPerEmail, PerAddr: mailLimits.RequestMaxPerAddr, Window: mailLimits.RequestWindow,
		}, a.cfg.Redis.Timeout),
		MailQueued: a.mailer.Notify,
		Events:     a.metrics.AuthEvent,
		ClientAddr: middleware.ClientAddr(a.cfg.HTTP.TrustedProxies),
	}, auth)
	routes.RegisterSessions(f, &routes.Sessions{Sessions: a.sessions, Users: a.users, Events: a.metrics.AuthEvent,
		ClientAddr: middleware.ClientAddr(a.cfg.HTTP.TrustedProxies)}, auth)
	routes.RegisterEvents(f, &routes.Events{Store: a.events, MaxPageSize: a.cfg.Limits.MaxPageSize}, auth)
	reauth := &routes.Reauth{
		Users: a.users, Hasher: a.hasher, Limiter: limiter, Audit: a.sessions.Events,
		ClientAddr: middleware.ClientAddr(a.cfg.HTTP.TrustedProxies),
	}
	routes.RegisterSelfService(f, &routes.SelfService{
		Users: a.users, Reauth: reauth, Sessions: a.sessions, MFA: a.mfa,
		Events: a.metrics.AuthEvent, ClientAddr: middleware.ClientAddr(a.cfg.HTTP.TrustedProxies),
		ExportTimeout: 5 * time.Minute, AuditEvents: a.streamEvents,
		Accounts: a.accounts, MailQueued: a.mailer.Notify,
	}, auth)
	routes.RegisterMFA(f, &routes.MFA{
		MFA: a.mfa, Sessions: a.sessions, Reauth: reauth, Limiter: limiter,
		Events: a.metrics.AuthEvent, ClientAddr: middleware.ClientAddr(a.cfg.HTTP.TrustedProxies),
	}, auth)
	routes.RegisterUsers(f, &routes.Users{
		Store:         a.users,
		Hasher:        a.hasher,
		MaxPageSize:   a.cfg.Limits.MaxPageSize,
		BatchLimit:    a.cfg.Limits.BatchLimit,
		BatchMaxItems: a.cfg.Limits.BatchMaxItems,
		Accounts:      a.accounts,
		ClientAddr:    middleware.ClientAddr(a.cfg.HTTP.TrustedProxies),
	}, auth)
	return f
}

func (a *App) health() *routes.Health {
	return &routes.Health{
		PingPostgres: a.users.Ping,
		PingRedis:    redisPing(a.rdb, a.cfg.Redis.Timeout),
		Timeout:      healthTimeout,
		Ready:        a.ready,
		Warnings:     a.eviction.warnings,
	}
}
