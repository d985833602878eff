// The pages behind the links in account mail: /verify-email and /reset-password. The token is
// read from the fragment (#token=…, which no server or log sees) or the query, removed from
// the address bar, and posted to the API of this same origin. No external code, no framework.
(function () {
  "use strict";

  var status = document.getElementById("status");

  function show(outcome, text) {
    status.textContent = text;
    status.setAttribute("data-outcome", outcome);
  }

  function readToken() {
    var fromHash = new URLSearchParams(window.location.hash.replace(/^#/, "")).get("token");
    var token = fromHash || new URLSearchParams(window.location.search).get("token") || "";
    if (token && window.history.replaceState) {
      window.history.replaceState(null, "", window.location.pathname);
    }
    return token;
  }

  // post sends body as JSON and resolves to {status, body} (body is null when not JSON).
  function post(path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store"
    }).then(function (resp) {
      return resp.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
        return { status: resp.status, body: parsed };
      });
    });
  }

  // message is the API's error without its prefix ("validation error: " and the like).
  function message(body) {
    var text = body && typeof body.error === "string" ? body.error : "";
    var i = text.indexOf(": ");
    return i >= 0 ? text.slice(i + 2) : text;
  }

  var usedLink = "This link is invalid, expired or already used. Ask for a new one and use the latest message.";
  var noToken = "This link has no token. Open the link from the message exactly as it was sent.";

  function failed(resp) {
    if (resp.status === 400 && message(resp.body) === "invalid or expired token") {
      return usedLink;
    }
    if (resp.status === 429 || resp.status === 503) {
      return "The service is busy. Try again in a moment.";
    }
    return "Something went wrong (" + (message(resp.body) || "status " + resp.status) + "). Try again later.";
  }

  function offline() {
    show("error", "The service could not be reached. Check your connection and try again.");
  }

  function verify(token) {
    if (!token) {
      show("error", noToken);
      return;
    }
    post("/auth/verify", { token: token }).then(function (resp) {
      if (resp.status === 200) {
        show("ok", "Your email address is verified. You can close this page and log in.");
        return;
      }
      show("error", failed(resp));
    }, offline);
  }

  function confirmEmail(token) {
    if (!token) {
      show("error", noToken);
      return;
    }
    post("/auth/email/confirm", { token: token }).then(function (resp) {
      if (resp.status === 200) {
        show("ok", "Your account now uses this email address; your other sessions were logged out.");
        return;
      }
      if (resp.status === 409) {
        show("error", "Another account uses this address now, so the change could not be made.");
        return;
      }
      show("error", failed(resp));
    }, offline);
  }

  function reset(token) {
    var form = document.getElementById("reset");
    if (!token) {
      show("error", noToken);
      return;
    }
    form.hidden = false;
    var password = document.getElementById("password");
    var confirm = document.getElementById("confirm");
    var button = document.getElementById("submit");
    password.focus();
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (password.value !== confirm.value) {
        show("error", "The two passwords differ.");
        return;
      }
      button.disabled = true;
      show("", "Setting your new password…");
      post("/auth/password/reset", { token: token, password: password.value }).then(function (resp) {
        button.disabled = false;
        if (resp.status === 204) {
          form.hidden = true;
          show("ok", "Your password is changed, and every session was logged out. Log in with the new password.");
          return;
        }
        var text = failed(resp);
        if (text === usedLink) {
          form.hidden = true;
        } else if (resp.status === 400) {
          text = "That password cannot be used: " + message(resp.body) + ".";
        }
        show("error", text);
      }, function () {
        button.disabled = false;
        offline();
      });
    });
  }

  // Another link pasted into this tab changes only the fragment, which loads nothing: start over.
  window.addEventListener("hashchange", function () { window.location.reload(); });

  var token = readToken();
  var flow = document.body.getAttribute("data-flow");
  if (flow === "verify") {
    verify(token);
  } else if (flow === "email") {
    confirmEmail(token);
  } else {
    reset(token);
  }
})();
