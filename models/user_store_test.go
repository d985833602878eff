package models_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

func newUser(email string, status models.Status) *models.User {
	return &models.User{Email: email, PasswordHash: "$2a$04$notarealhashnotarealhashnotarealhashnotarealhashnot", Status: status, Role: models.RoleUser}
}

func TestBunUserStoreCreateAndFind(t *testing.T) {
	t.Parallel()
	s := mustUserStore(t)
	ctx := context.Background()
	email := apptest.RandomName("ada") + "@example.com"
	u := newUser(email, models.StatusActive)
	apptest.Must(t, s.Create(ctx, u), "create")
	if u.ID == uuid.Nil || u.CreatedAt.IsZero() {
		t.Fatalf("create did not fill id and created_at: %+v", u)
	}

	t.Run("OK", func(t *testing.T) {
		byID, err := s.ByID(ctx, u.ID)
		apptest.Must(t, err, "by id")
		byEmail, err := s.ByEmail(ctx, email)
		apptest.Must(t, err, "by email")
		if byEmail.ID != u.ID {
			t.Fatalf("by email found %s, want %s", byEmail.ID, u.ID)
		}
		if byID.Email != email || byID.Status != models.StatusActive || byID.Role != models.RoleUser {
			t.Fatalf("by id: %+v", byID)
		}
	})
	t.Run("CaseInsensitiveEmail", func(t *testing.T) {
		found, err := s.ByEmail(ctx, "ADA"+email[3:])
		apptest.Must(t, err, "by email in upper case")
		if found.ID != u.ID {
			t.Fatalf("found %s, want %s", found.ID, u.ID)
		}
		exists, err := s.EmailExists(ctx, "Ada"+email[3:])
		if err != nil || !exists {
			t.Fatalf("EmailExists = %v, %v", exists, err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := s.ByID(ctx, uuid.New())
		wantCode(t, err, models.CodeNotFound)
		_, err = s.ByEmail(ctx, "nobody@example.com")
		wantCode(t, err, models.CodeNotFound)
		exists, err := s.EmailExists(ctx, "nobody@example.com")
		if err != nil || exists {
			t.Fatalf("EmailExists(nobody) = %v, %v", exists, err)
		}
		_, err = s.SetRole(ctx, "nobody@example.com", models.RoleAdmin)
		wantCode(t, err, models.CodeNotFound)
	})
	t.Run("ErrConflictOnEmailInAnotherCase", func(t *testing.T) {
		err := s.Create(ctx, newUser("ADA"+email[3:], models.StatusPendingVerification))
		wantCode(t, err, models.CodeConflict)
	})
}

func TestBunUserStorePages(t *testing.T) {
	t.Parallel()
	s := mustUserStore(t)
	ctx := context.Background()
	var want []uuid.UUID
	for i := range 5 {
		u := newUser(fmt.Sprintf("user%d@example.com", i), models.StatusActive)
		apptest.Must(t, s.Create(ctx, u), "create")
		want = append(want, u.ID) // created_at is clock_timestamp(): insertion order
	}

	t.Run("ListAfter", func(t *testing.T) {
		var got []uuid.UUID
		var cursor *models.Cursor
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatal("more than 3 pages of 2 for 5 users")
			}
			page, err := s.ListAfter(ctx, cursor, 2)
			apptest.Must(t, err, "list after")
			for _, u := range page.Users {
				got = append(got, u.ID)
			}
			if page.Next == nil {
				break
			}
			cursor = page.Next
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("walked %v, want %v", got, want)
		}
	})
	t.Run("ListOffset", func(t *testing.T) {
		page, err := s.ListOffset(ctx, 2, 2)
		apptest.Must(t, err, "list offset")
		if len(page.Users) != 2 || page.Users[0].ID != want[2] || page.Next == nil {
			t.Fatalf("offset 2: %d users, next %v", len(page.Users), page.Next)
		}
		last, err := s.ListOffset(ctx, 4, 2)
		apptest.Must(t, err, "last page")
		if len(last.Users) != 1 || last.Users[0].ID != want[4] || last.Next != nil {
			t.Fatalf("offset 4: %d users, next %v", len(last.Users), last.Next)
		}
		empty, err := s.ListOffset(ctx, 10, 2)
		if err != nil || len(empty.Users) != 0 || empty.Next != nil {
			t.Fatalf("past the end: %+v, %v", empty, err)
		}
	})
}

// Stats follows every change of status, through the store's own updates.
func TestBunUserStoreStats(t *testing.T) {
	t.Parallel()
	s := mustUserStore(t)
	ctx := context.Background()
	stats := func() models.Stats {
		t.Helper()
		st, err := s.Stats(ctx)
		apptest.Must(t, err, "stats")
		return st
	}
	if st := stats(); st != (models.Stats{}) {
		t.Fatalf("empty table: %+v", st)
	}
	for i, status := range []models.Status{models.StatusActive, models.StatusActive, models.StatusPendingVerification} {
		apptest.Must(t, s.Create(ctx, newUser(fmt.Sprintf("s%d@example.com", i), status)), "create")
	}
	if st := stats(); st != (models.Stats{Total: 3, Active: 2, Pending: 1}) {
		t.Fatalf("after create: %+v", st)
	}
	reason := "spam"
	u, err := s.Suspend(ctx, "S0@example.com", &reason, nil)
	apptest.Must(t, err, "suspend")
	if u.Status != models.StatusSuspended || u.SuspensionReason == nil || *u.SuspensionReason != reason {
		t.Fatalf("suspended user: %+v", u)
	}
	if st := stats(); st != (models.Stats{Total: 3, Active: 1, Suspended: 1, Pending: 1}) {
		t.Fatalf("after suspend: %+v", st)
	}
	u, err = s.Activate(ctx, "s0@example.com")
	apptest.Must(t, err, "activate")
	if u.Status != models.StatusActive || u.SuspensionReason != nil {
		t.Fatalf("activated user: %+v", u)
	}
	if st := stats(); st != (models.Stats{Total: 3, Active: 2, Pending: 1}) {
		t.Fatalf("after activate: %+v", st)
	}
	u, err = s.SetRole(ctx, "s1@example.com", models.RoleAdmin)
	if err != nil || u.Role != models.RoleAdmin {
		t.Fatalf("set role: %+v, %v", u, err)
	}
}
