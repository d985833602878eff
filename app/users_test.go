package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/authapi/models"
)

type listResponse struct {
	Items      []map[string]any `json:"items"`
	Page       int              `json:"page"`
	PerPage    int              `json:"per_page"`
	Total      int64            `json:"total"`
	NextCursor *string          `json:"next_cursor"`
}

func TestUsersRequireAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, userToken := e.newUser()
	for _, path := range []string{"/users", "/users/stats"} {
		if msg := wantError(t, e.client.Get(path, userToken), http.StatusForbidden, "forbidden"); msg != "forbidden: admin role required" {
			t.Fatalf("%s: error = %q", path, msg)
		}
		wantError(t, e.client.Get(path, ""), http.StatusUnauthorized, "unauthorized")
	}
	wantError(t, e.client.Post("/users/batch", []any{}, userToken), http.StatusForbidden, "forbidden")
	wantError(t, e.client.Post("/users/batch", []any{}, ""), http.StatusUnauthorized, "unauthorized")
}

func TestListUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"MAX_PAGE_SIZE": "5"})
	admin := e.newAdmin()
	var emails []string
	for range 11 {
		email := randomEmail()
		e.register(email, goodPassword)
		emails = append(emails, email)
	}
	const total = 12 // the admin too

	list := func(t *testing.T, query string) listResponse {
		t.Helper()
		resp := e.client.Get("/users"+query, admin)
		if resp.Status != http.StatusOK {
			t.Fatalf("GET /users%s: %d %s", query, resp.Status, resp.Body)
		}
		var out listResponse
		resp.Decode(t, &out)
		return out
	}

	t.Run("OKDefaults", func(t *testing.T) {
		out := list(t, "")
		if out.Page != 1 || out.PerPage != 5 || out.Total != total || len(out.Items) != 5 || out.NextCursor == nil {
			t.Fatalf("page %d per_page %d total %d items %d next %v", out.Page, out.PerPage, out.Total, len(out.Items), out.NextCursor)
		}
		for _, item := range out.Items {
			if _, leaked := item["password_hash"]; leaked {
				t.Fatal("password_hash in list")
			}
		}
	})
	t.Run("OKOffsetPagesInOrder", func(t *testing.T) {
		var seen []string
		for page := 1; page <= 4; page++ {
			out := list(t, fmt.Sprintf("?page=%d&per_page=4", page))
			for _, item := range out.Items {
				seen = append(seen, item["email"].(string))
			}
		}
		if len(seen) != total || seen[0] == "" {
			t.Fatalf("walked %d users, want %d", len(seen), total)
		}
		// Order is created_at: the users registered in this order, after the admin.
		if strings.Join(seen[1:], ",") != strings.Join(emails, ",") {
			t.Fatalf("order %v, want %v", seen[1:], emails)
		}
	})
	t.Run("OKClamps", func(t *testing.T) {
		if out := list(t, "?page=0&per_page=1000"); out.Page != 1 || out.PerPage != 5 {
			t.Fatalf("page %d per_page %d", out.Page, out.PerPage)
		}
		if out := list(t, "?page=-3&per_page=0"); out.Page != 1 || out.PerPage != 1 || len(out.Items) != 1 {
			t.Fatalf("page %d per_page %d items %d", out.Page, out.PerPage, len(out.Items))
		}
		if out := list(t, "?page=100"); len(out.Items) != 0 || out.Total != total || out.NextCursor != nil {
			t.Fatalf("beyond the end: items %d total %d next %v", len(out.Items), out.Total, out.NextCursor)
		}
	})
	t.Run("ErrNotInteger", func(t *testing.T) {
		for _, q := range []string{"?page=abc", "?per_page=1.5", "?page=1e3", "?per_page=%20"} {
			wantError(t, e.client.Get("/users"+q, admin), http.StatusBadRequest, "validation_error")
		}
	})
	t.Run("OKCursorWalk", func(t *testing.T) {
		var seen []string
		out := list(t, "?per_page=5")
		for _, item := range out.Items {
			seen = append(seen, item["email"].(string))
		}
		for out.NextCursor != nil {
			out = list(t, "?per_page=5&page=7&cursor="+*out.NextCursor)
			if out.Page != 0 {
				t.Fatalf("cursor page reports page %d, want 0", out.Page)
			}
			for _, item := range out.Items {
				seen = append(seen, item["email"].(string))
			}
		}
		if len(seen) != total || strings.Join(seen[1:], ",") != strings.Join(emails, ",") {
			t.Fatalf("cursor walk saw %d users in order %v", len(seen), seen)
		}
	})
	t.Run("ErrBadCursor", func(t *testing.T) {
		for _, c := range []string{"x", "bm90LWpzb24", "e30"} { // garbage, "not-json", "{}"
			if msg := wantError(t, e.client.Get("/users?cursor="+c, admin), http.StatusBadRequest, "validation_error"); msg != "validation error: invalid cursor" {
				t.Fatalf("cursor %q: %q", c, msg)
			}
		}
	})
}

func TestUserStats(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	admin := e.newAdmin()
	ctx := context.Background()
	var emails []string
	for range 4 {
		email := randomEmail()
		e.register(email, goodPassword)
		emails = append(emails, email)
	}
	if _, err := e.users.Activate(ctx, emails[0]); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	reason := "spam"
	if _, err := e.users.Suspend(ctx, emails[1], &reason, &until); err != nil {
		t.Fatal(err)
	}
	resp := e.client.Get("/users/stats", admin)
	if resp.Status != http.StatusOK {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
	var st map[string]int64
	resp.Decode(t, &st)
	want := map[string]int64{"total": 5, "active": 1, "suspended": 1, "pending": 3}
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Fatalf("stats %v, want %v", st, want)
	}
	var list listResponse
	e.client.Get("/users?per_page=100", admin).Decode(t, &list)
	if list.Total != st["total"] || int64(len(list.Items)) != st["total"] {
		t.Fatalf("/users total %d items %d, stats total %d", list.Total, len(list.Items), st["total"])
	}
	for _, item := range list.Items {
		if item["email"] != emails[1] {
			continue
		}
		status := item["status"].(map[string]any)
		if status["status"] != "suspended" || status["reason"] != "spam" || status["until"] != until.Format(time.RFC3339) {
			t.Fatalf("suspended status = %v", status)
		}
	}
	// The counters follow deletes too.
	if _, err := e.db.NewDelete().TableExpr("users").Where("email = ?", emails[2]).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.users.Stats(ctx); got.Total != 4 || got.Pending != 2 {
		t.Fatalf("after delete: %+v", got)
	}
}

func TestBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"BATCH_MAX_ITEMS": "6", "BATCH_LIMIT": "3"})
	admin := e.newAdmin()
	existing := randomEmail()
	e.register(existing, goodPassword)
	fresh, dup := randomEmail(), randomEmail()

	t.Run("OK", func(t *testing.T) {
		resp := e.client.Post("/users/batch", []any{
			map[string]string{"email": strings.ToUpper(fresh), "password": goodPassword},
			map[string]string{"email": "nope", "password": goodPassword},
			map[string]string{"email": dup, "password": goodPassword},
			map[string]string{"email": existing, "password": goodPassword},
			map[string]string{"email": " " + strings.ToUpper(dup), "password": goodPassword},
			map[string]string{"email": randomEmail(), "password": "short"},
		}, admin)
		if resp.Status != http.StatusOK {
			t.Fatalf("%d %s", resp.Status, resp.Body)
		}
		var out struct {
			Created []map[string]any `json:"created"`
			Errors  []string         `json:"errors"`
			Failed  []struct {
				Index int    `json:"index"`
				Email string `json:"email"`
				Error string `json:"error"`
			} `json:"failed"`
		}
		resp.Decode(t, &out)
		if len(out.Created) != 2 || out.Created[0]["email"] != fresh || out.Created[1]["email"] != dup {
			t.Fatalf("created %v", out.Created)
		}
		for _, u := range out.Created {
			if u["status"].(map[string]any)["status"] != "active" {
				t.Fatalf("batch user status %v, want active", u["status"])
			}
		}
		wantErrors := []string{
			"validation error: invalid email format",
			"conflict: email already exists",
			"conflict: email already exists",
			"validation error: password too short (min 8)",
		}
		if strings.Join(out.Errors, "|") != strings.Join(wantErrors, "|") {
			t.Fatalf("errors %q", out.Errors)
		}
		wantFailed := "1 nope|3 " + existing + "|4 " + dup + "|5 "
		var got []string
		for i, f := range out.Failed {
			got = append(got, fmt.Sprintf("%d %s", f.Index, f.Email))
			if f.Error != out.Errors[i] {
				t.Fatalf("failed[%d].error %q != errors[%d] %q", i, f.Error, i, out.Errors[i])
			}
		}
		if !strings.HasPrefix(strings.Join(got, "|"), wantFailed) {
			t.Fatalf("failed %q, want prefix %q", got, wantFailed)
		}
		if u, err := e.users.ByEmail(context.Background(), fresh); err != nil || u.Status != models.StatusActive {
			t.Fatalf("created user in database: %v %v", u, err)
		}
	})
	t.Run("OKEmpty", func(t *testing.T) {
		resp := e.client.Post("/users/batch", []any{}, admin)
		if resp.Status != http.StatusOK || string(resp.Body) != `{"created":[],"errors":[],"failed":[]}` {
			t.Fatalf("%d %s", resp.Status, resp.Body)
		}
	})
	t.Run("ErrWholeRequest", func(t *testing.T) {
		before, _ := e.users.Stats(context.Background())
		seven := make([]any, 7)
		for i := range seven {
			seven[i] = map[string]string{"email": randomEmail(), "password": goodPassword}
		}
		for name, body := range map[string]any{
			"TooMany":    seven,
			"Object":     map[string]string{"email": randomEmail(), "password": goodPassword},
			"NotObjects": []any{map[string]string{"email": randomEmail(), "password": goodPassword}, "x"},
			"Null":       "null",
			"Malformed":  "[{",
		} {
			wantError(t, e.client.Post("/users/batch", body, admin), http.StatusBadRequest, "validation_error")
			if after, _ := e.users.Stats(context.Background()); after.Total != before.Total {
				t.Fatalf("%s: created users (%d -> %d)", name, before.Total, after.Total)
			}
		}
	})
}

// TestConcurrentOverlappingBatches sends batches that share emails at the same time: every
// email is created at most once, and every item is either created or reported as failed.
func TestConcurrentOverlappingBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"BATCH_LIMIT": "4"})
	admin := e.newAdmin()
	shared := make([]string, 6)
	for i := range shared {
		shared[i] = randomEmail()
	}
	const batches = 4
	type result struct {
		created, failed int
		emails          []string
	}
	results := make(chan result, batches)
	var wg sync.WaitGroup
	for b := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			items := []any{map[string]string{"email": randomEmail(), "password": goodPassword}}
			for i, email := range shared {
				if b%2 == 1 {
					email = strings.ToUpper(shared[len(shared)-1-i]) // another order, another case
				}
				items = append(items, map[string]string{"email": email, "password": goodPassword})
			}
			var out struct {
				Created []map[string]any `json:"created"`
				Failed  []map[string]any `json:"failed"`
			}
			resp := e.client.Post("/users/batch", items, admin)
			if resp.Status != http.StatusOK {
				t.Errorf("batch %d: %d %s", b, resp.Status, resp.Body)
				return
			}
			resp.Decode(t, &out)
			r := result{created: len(out.Created), failed: len(out.Failed)}
			for _, u := range out.Created {
				r.emails = append(r.emails, u["email"].(string))
			}
			for _, f := range out.Failed {
				if f["error"] != "conflict: email already exists" {
					t.Errorf("batch %d: unexpected failure %v", b, f)
				}
			}
			if r.created+r.failed != len(items) {
				t.Errorf("batch %d: %d created + %d failed != %d items", b, r.created, r.failed, len(items))
			}
			results <- r
		}()
	}
	wg.Wait()
	close(results)
	createdShared := map[string]int{}
	for r := range results {
		for _, email := range r.emails {
			createdShared[email]++
		}
	}
	for _, email := range shared {
		if createdShared[email] != 1 {
			t.Fatalf("%s created %d times, want exactly once", email, createdShared[email])
		}
	}
	if st, _ := e.users.Stats(context.Background()); st.Total != int64(1+batches+len(shared)) {
		t.Fatalf("total %d, want %d", st.Total, 1+batches+len(shared))
	}
}
