package mail

import (
	"bytes"
	"embed"
	htmltemplate "html/template"
	"net/url"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/example/authapi/models"
)

//go:embed templates/*
var templateFiles embed.FS

// Templates renders the messages of each kind, plain text and HTML, from the embedded files.
// The HTML bodies go through html/template, so an address or link is escaped where it lands.
type Templates struct {
	text    *texttemplate.Template
	html    *htmltemplate.Template
	baseURL string
}

// subjects are the subject lines, by kind.
var subjects = map[models.MailKind]string{
	models.MailVerify:      "Confirm your email address",
	models.MailReset:       "Reset your password",
	models.MailEmailChange: "Confirm your new email address",
	models.MailEmailNotice: "A change of your account's email address was requested",
}

// paths are where each kind's link points, under PUBLIC_BASE_URL: a page of the client
// application that reads the token and posts it to the API.
var paths = map[models.MailKind]string{
	models.MailVerify:      "/verify-email",
	models.MailReset:       "/reset-password",
	models.MailEmailChange: "/confirm-email",
}

// NewTemplates parses the embedded templates; links are built on baseURL.
func NewTemplates(baseURL string) (*Templates, error) {
	text, err := texttemplate.ParseFS(templateFiles, "templates/*.txt")
	if err != nil {
		return nil, err
	}
	html, err := htmltemplate.ParseFS(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return &Templates{text: text, html: html, baseURL: strings.TrimSuffix(baseURL, "/")}, nil
}

// Link is the link a message of kind carries for token. The token rides in the fragment, which
// browsers never send to a server: it stays out of access logs and Referer headers.
func (t *Templates) Link(kind models.MailKind, token string) string {
	return t.baseURL + paths[kind] + "#token=" + url.QueryEscape(token)
}

// Render returns the message of kind to email, with a link for token valid for ttl.
func (t *Templates) Render(kind models.MailKind, email, token string, ttl time.Duration) (Message, error) {
	data := struct {
		Email, Link, Valid string
	}{Email: email}
	if token != "" {
		data.Link, data.Valid = t.Link(kind, token), humanDuration(ttl)
	}
	var text, html bytes.Buffer
	if err := t.text.ExecuteTemplate(&text, string(kind)+".txt", data); err != nil {
		return Message{}, err
	}
	if err := t.html.ExecuteTemplate(&html, string(kind)+".html", data); err != nil {
		return Message{}, err
	}
	return Message{To: email, Subject: subjects[kind], Text: text.String(), HTML: html.String(), Link: data.Link}, nil
}

// humanDuration says "24 hours", "1 hour" or "30 minutes".
func humanDuration(d time.Duration) string {
	unit, n := "minute", int(d/time.Minute)
	if d >= time.Hour && d%time.Hour == 0 {
		unit, n = "hour", int(d/time.Hour)
	}
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
