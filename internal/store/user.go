package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
)

const userColumns = `id, name, email, password, is_admin, created_at, updated_at`

func scanUser(r rowScanner) (*booking.User, error) {
	var u booking.User
	if err := r.Scan(&u.ID, &u.Name, &u.Email, &u.PasswordHash, &u.IsAdmin, &u.CreatedAt, &u.UpdatedAt); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = u.CreatedAt.UTC(), u.UpdatedAt.UTC()
	return &u, nil
}

// UserCreate inserts a user and sets its ID. A taken email fails with
// ECONFLICT.
func (db *DB) UserCreate(ctx context.Context, u *booking.User) error {
	const q = `INSERT INTO users (name, email, password, is_admin, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`
	id, err := db.insertID(ctx, db.DB, q, u.Name, u.Email, u.PasswordHash, u.IsAdmin, u.CreatedAt, u.UpdatedAt)
	if err != nil {
		if IsUniqueViolation(err) {
			return &apperr.Error{Code: apperr.ECONFLICT, Message: "The email has already been taken.", Err: err}
		}
		return fmt.Errorf("store: create user: %w", err)
	}
	u.ID = id
	return nil
}

// UserGet returns a user by ID.
func (db *DB) UserGet(ctx context.Context, id int64) (*booking.User, error) {
	u, err := scanUser(db.Read.QueryRowContext(ctx, db.Rebind(`SELECT `+userColumns+` FROM users WHERE id = ?`), id))
	return u, userErr(err)
}

// UserGetByEmail returns a user by (normalized) email.
func (db *DB) UserGetByEmail(ctx context.Context, email string) (*booking.User, error) {
	u, err := scanUser(db.Read.QueryRowContext(ctx, db.Rebind(`SELECT `+userColumns+` FROM users WHERE email = ?`), email))
	return u, userErr(err)
}

// UserCount returns the number of users.
func (db *DB) UserCount(ctx context.Context) (int, error) {
	var n int
	if err := db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count users: %w", err)
	}
	return n, nil
}

func userErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.Errorf(apperr.ENOTFOUND, "User not found.")
	}
	if err != nil {
		return fmt.Errorf("store: get user: %w", err)
	}
	return nil
}
