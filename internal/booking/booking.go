// Package booking holds Tripin's domain: users, tours and bookings, their
// rules and states, and the services that book seats, cancel and release
// them. What a payment event (paid, denied, expired, refunded, …) does to a
// booking in each state is one pure function, Apply (state.go); the
// service's ApplyPaymentTx runs it for the payment package. It defines the
// storage interfaces it needs; internal/store implements them and is the
// only writer of bookings and tours, so this package never imports a
// database driver.
package booking

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/tripintravel/tripin/internal/apperr"
)

// Status is a booking's state.
type Status string

// The booking states. Only pending and paid bookings hold seats.
const (
	StatusPending   Status = "pending"
	StatusPaid      Status = "paid"
	StatusExpired   Status = "expired"
	StatusCancelled Status = "cancelled"
	StatusFailed    Status = "failed"
	StatusRefunded  Status = "refunded"
)

// HoldsSeats reports whether a booking in this state counts against its
// tour's capacity.
func (s Status) HoldsSeats() bool { return s == StatusPending || s == StatusPaid }

// Valid reports whether s is one of the known states.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusPaid, StatusExpired, StatusCancelled, StatusFailed, StatusRefunded:
		return true
	}
	return false
}

// DateLayout is how departure dates are written everywhere: in JSON, in SQL
// parameters and in query strings.
const DateLayout = "2006-01-02"

// Tour is a departure that customers book seats on. Price is in whole
// rupiah. Quota is the number of seats left; the invariant
// capacity = quota + seats held by pending and paid bookings always holds.
type Tour struct {
	ID            int64     `json:"id"`
	Title         string    `json:"title"`
	Destination   string    `json:"destination"`
	Description   string    `json:"description"`
	DepartureDate string    `json:"departure_date"` // YYYY-MM-DD
	Price         int64     `json:"price"`
	Capacity      int       `json:"capacity"`
	Quota         int       `json:"quota"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Booking is a customer's hold on seats of one tour. Code is unique and
// becomes the Midtrans order_id.
type Booking struct {
	ID          int64      `json:"id"`
	Code        string     `json:"code"`
	Status      Status     `json:"status"`
	UserID      int64      `json:"user_id"`
	TourID      int64      `json:"tour_id"`
	Quantity    int        `json:"quantity"`
	UnitPrice   int64      `json:"unit_price"`
	TotalAmount int64      `json:"total_amount"`
	ExpiresAt   time.Time  `json:"expires_at"`
	PaidAt      *time.Time `json:"paid_at"`
	CancelledAt *time.Time `json:"cancelled_at,omitempty"`
	ExpiredAt   *time.Time `json:"expired_at,omitempty"`
	FailedAt    *time.Time `json:"failed_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// JobTags are the tags of the jobs about the booking ("booking:42",
// "booking:TRP-…", "user:7", "tour:3"), by which an operator finds every
// job of a booking, a customer or a tour on the dashboard.
func (b *Booking) JobTags() []string {
	return []string{
		"booking:" + strconv.FormatInt(b.ID, 10), "booking:" + b.Code,
		"user:" + strconv.FormatInt(b.UserID, 10), "tour:" + strconv.FormatInt(b.TourID, 10),
	}
}

// JobTag is the tag every job about booking id carries.
func JobTag(id int64) string { return "booking:" + strconv.FormatInt(id, 10) }

// User is an account: a customer or, with IsAdmin, an operator.
type User struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	Email        string    `json:"email"`
	IsAdmin      bool      `json:"is_admin"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Page asks for one page of a list; pages count from 1.
type Page struct {
	Number  int
	PerPage int
}

// Offset returns the number of rows before the page.
func (p Page) Offset() int { return (p.Number - 1) * p.PerPage }

// TourFilter narrows a tour listing. Dates are YYYY-MM-DD; empty means no
// bound.
type TourFilter struct {
	// Destination matches case-insensitively anywhere in the destination.
	Destination string
	// After keeps tours departing strictly after this date.
	After string
	// From and To keep tours departing on or between these dates.
	From, To string
	Page     Page
}

// TourChanges are the fields an admin update sets; nil leaves a field as
// it is.
type TourChanges struct {
	Title         *string
	Destination   *string
	Description   *string
	DepartureDate *string
	Price         *int64
	Capacity      *int
}

// IdempotencyRecord is the stored first answer to a request sent with an
// Idempotency-Key header.
type IdempotencyRecord struct {
	UserID      int64
	Key         string
	RequestHash string
	StatusCode  int
	// Body is the booking as first returned, in its JSON form.
	Body      []byte
	BookingID int64
	CreatedAt time.Time
}

// TourSeats is what a new booking reads of its tour before its
// transaction, on a plain read that takes no lock: the seats left, the
// price the booking is made at and the departure date. A sold-out or
// departed tour is refused on it at once, without waiting for the tour's
// row lock, which a flash sale keeps busy; the seat statement, which
// re-checks all three under the lock, decides for the others.
type TourSeats struct {
	Quota         int
	Price         int64
	DepartureDate string // YYYY-MM-DD
}

// Refusal returns why quantity seats of the tour cannot be booked when only
// tours departing after departsAfter can, or nil when they can: ENOTFOUND
// for a departed tour, ESOLDOUT when fewer than quantity seats are left.
func (t *TourSeats) Refusal(quantity int, departsAfter string) error {
	if t.DepartureDate <= departsAfter {
		return apperr.Errorf(apperr.ENOTFOUND, "This tour has already departed.")
	}
	if t.Quota < quantity {
		return SoldOutError(t.Quota)
	}
	return nil
}

// SoldOutError is the ESOLDOUT answer for a tour with left seats.
func SoldOutError(left int) error {
	if left <= 0 {
		return apperr.Errorf(apperr.ESOLDOUT, "This tour is sold out.")
	}
	return apperr.Errorf(apperr.ESOLDOUT, "Only %d seat(s) left on this tour.", left)
}

// ErrPriceChanged is the cause of the ECONFLICT a store returns when a
// tour's price changed between the plain read a booking was priced by and
// the statement that takes its seats. Book reads the tour again and
// retries.
var ErrPriceChanged = errors.New("booking: the tour's price changed")

// TxHook runs inside a booking transaction. Returning an error rolls the
// whole transaction back. Hooks must only use tx (never a second
// transaction or another connection): on SQLite the writer pool has one
// connection, and the transaction holds it.
type TxHook func(ctx context.Context, tx *sql.Tx, b *Booking) error

// Store is the persistence the booking service needs; *store.DB
// implements it. Methods ending in Tx run inside the caller's transaction.
// Not found is reported as an apperr.ENOTFOUND error.
type Store interface {
	// InTx runs fn in a transaction, retrying the whole of it on deadlocks
	// and busy errors.
	InTx(ctx context.Context, fn func(tx *sql.Tx) error) error

	TourCreate(ctx context.Context, t *Tour) error
	TourGet(ctx context.Context, id int64) (*Tour, error)
	TourList(ctx context.Context, f TourFilter) ([]*Tour, int, error)
	TourUpdate(ctx context.Context, id int64, c TourChanges, now time.Time) (*Tour, error)
	TourDelete(ctx context.Context, id int64) error
	// TourTakeSeatsTx takes quantity seats of a tour departing after the
	// given date with one conditional update and returns the tour's price.
	// It fails with ESOLDOUT when too few seats are left and ENOTFOUND for
	// an unknown or departed tour.
	TourTakeSeatsTx(ctx context.Context, tx *sql.Tx, tourID int64, quantity int, departsAfter string) (price int64, err error)
	// TourSeatsGet reads a tour's seats left, price and departure date
	// without a lock and outside any transaction. An unknown tour fails
	// with ENOTFOUND.
	TourSeatsGet(ctx context.Context, tourID int64) (*TourSeats, error)

	BookingInsertTx(ctx context.Context, tx *sql.Tx, b *Booking) error
	// BookingCreateTx inserts b, a pending booking at b.UnitPrice and
	// b.TotalAmount, and takes its b.Quantity seats of b.TourID, which must
	// depart after departsAfter and still cost b.UnitPrice. It sets b.ID,
	// b.CreatedAt and b.UpdatedAt to the database's clock and b.ExpiresAt
	// to that plus hold, because the expiry sweep and the booking's expiry
	// job judge expires_at by the database's clock, never by the web
	// server's. then, when not nil, runs in tx once those are set: where
	// the store can, before the row is written and the seats taken, so that
	// the seat statement is the last before commit and the tour's row
	// lock, which every booking of the tour waits for, is held for that
	// statement and the commit only; elsewhere after both. An error of
	// then is returned as it is. It fails with ESOLDOUT, ENOTFOUND for an
	// unknown or departed tour, and ECONFLICT for a taken code or, wrapping
	// ErrPriceChanged, a changed price.
	BookingCreateTx(ctx context.Context, tx *sql.Tx, b *Booking, departsAfter string, hold time.Duration, then func() error) error
	BookingGet(ctx context.Context, id int64) (*Booking, error)
	BookingGetTx(ctx context.Context, tx *sql.Tx, id int64) (*Booking, error)
	BookingListByUser(ctx context.Context, userID int64, p Page) ([]*Booking, int, error)
	// BookingReleaseTx moves a pending booking to status and gives its
	// seats back, and reports whether it did; a booking in any other state
	// is left alone.
	BookingReleaseTx(ctx context.Context, tx *sql.Tx, id int64, status Status, at time.Time) (bool, error)
	// BookingPaymentLockTx reads the booking with the given code, with its
	// payment details, and locks its row until tx ends. An unknown code
	// fails with ENOTFOUND.
	BookingPaymentLockTx(ctx context.Context, tx *sql.Tx, code string) (*PaymentView, error)
	// BookingApplyTx writes a transition of the state table to the locked
	// booking b, with the payment's details, and returns the transition
	// it wrote: tr, or tr.Fallback when tr takes seats and too few are
	// left.
	BookingApplyTx(ctx context.Context, tx *sql.Tx, b *PaymentView, tr Transition, f PaymentFields, at time.Time) (Transition, error)
	// TourDepartureTx returns a tour's departure date, YYYY-MM-DD, without
	// locking it.
	TourDepartureTx(ctx context.Context, tx *sql.Tx, tourID int64) (string, error)

	IdempotencyGet(ctx context.Context, userID int64, key string) (*IdempotencyRecord, error)
	IdempotencyInsertTx(ctx context.Context, tx *sql.Tx, r *IdempotencyRecord) error

	PendingCounter
}

// UserStore is the persistence of accounts and API tokens; *store.DB
// implements it.
type UserStore interface {
	UserCreate(ctx context.Context, u *User) error
	UserGet(ctx context.Context, id int64) (*User, error)
	UserGetByEmail(ctx context.Context, email string) (*User, error)
	// TokenCreate stores the SHA-256 hash (hex) of a new API token that
	// expires at expiresAt.
	TokenCreate(ctx context.Context, userID int64, name, hash string, now, expiresAt time.Time) error
	// TokenUser returns the user owning the unexpired token with this
	// hash; a token with no expiry must have been created after
	// issuedAfter.
	TokenUser(ctx context.Context, hash string, now, issuedAfter time.Time) (*User, error)
	TokenDelete(ctx context.Context, hash string) error
	// TokenDeleteUser revokes every token of a user.
	TokenDeleteUser(ctx context.Context, userID int64) (int64, error)
	// UserSetPassword stores a new password hash and revokes every token
	// of the user, together.
	UserSetPassword(ctx context.Context, userID int64, hash string, now time.Time) error
}
