package booking

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tripintravel/tripin/internal/apperr"
)

// Limits on tour fields.
const (
	MaxTourCapacity = 1_000_000
	MaxTourPrice    = 1_000_000_000_000 // whole rupiah
	maxTextLen      = 255
	maxDescription  = 10_000
	maxPerPage      = 100
	defaultPerPage  = 15
	codeAttempts    = 4
)

// ServiceParams configures a Service.
type ServiceParams struct {
	Store Store
	// Now is the clock of everything but a new booking's created_at and
	// expires_at, which the store takes from the database's clock; nil
	// means time.Now.
	Now func() time.Time
	// Location is APP_TIMEZONE: it decides what "today" is for departures
	// and the date inside booking codes. Nil means UTC.
	Location *time.Location
	// Expiry is how long a pending booking holds its seats
	// (BOOKING_EXPIRY_MINUTES).
	Expiry time.Duration
	// MaxQuantity is the most seats one booking may take
	// (BOOKING_MAX_QUANTITY); 0 means no limit but a tour's largest
	// capacity.
	MaxQuantity int
	// MaxPendingPerUser is how many pending bookings one customer may hold
	// at once (BOOKING_MAX_PENDING_PER_USER); 0 means no limit. It is
	// checked inside the booking's transaction, under a lock on the
	// customer's row, so parallel requests cannot exceed it.
	MaxPendingPerUser int
	// RateLimit is how many bookings one customer may create per minute
	// (BOOKING_RATE_LIMIT), counted by Limiter; 0 or a nil Limiter means
	// no limit.
	RateLimit int
	// Limiter counts booking attempts per customer on a limiter every
	// server shares.
	Limiter RateLimiter
	// OnCreateTx hooks run, in order, inside the transaction that takes the
	// seats and inserts a booking, with the booking's ID and times set
	// (see HooksAfterInsert for when its row is written). The invoice email job
	// and the booking's own expiry job are inserted here with the queue's
	// InsertTx, so they exist if and only if the booking does.
	OnCreateTx []TxHook
	// HooksAfterInsert makes Book run the OnCreateTx hooks, and store the
	// idempotency key, only once the booking's row is written and its
	// seats taken. By default they run earlier where the store allows
	// (BookingCreateTx: on PostgreSQL, with the booking's ID and times
	// already drawn), so that the tour's row lock is held for the seat
	// statement and the commit only; a booking that then finds too few
	// seats rolls back whatever they wrote. A hook that reads or writes
	// the booking's row, or acts outside the transaction (the sync queue
	// connection runs the invoice email inline, and it reads the
	// booking), needs this.
	HooksAfterInsert bool
	// OnReleaseTx hooks run inside the transaction that moved a pending
	// booking to expired, cancelled or failed, with the booking as it is
	// after the move. They do not run when nothing was released.
	OnReleaseTx []TxHook
}

// Service books, cancels and releases seats, and manages tours.
type Service struct {
	store       Store
	now         func() time.Time
	loc         *time.Location
	expiry      time.Duration
	maxQuantity int
	maxPending  int
	rateLimit   int
	limiter     RateLimiter
	onCreateTx  []TxHook
	hooksLast   bool
	onReleaseTx []TxHook
	batch       *batcher
}

// NewService returns a Service.
func NewService(p ServiceParams) *Service {
	s := &Service{
		store: p.Store, now: p.Now, loc: p.Location, expiry: p.Expiry, maxQuantity: p.MaxQuantity,
		maxPending: max(p.MaxPendingPerUser, 0), rateLimit: max(p.RateLimit, 0), limiter: p.Limiter,
		onCreateTx: p.OnCreateTx, hooksLast: p.HooksAfterInsert, onReleaseTx: p.OnReleaseTx,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.loc == nil {
		s.loc = time.UTC
	}
	if s.expiry <= 0 {
		s.expiry = 30 * time.Minute
	}
	if s.maxQuantity <= 0 || s.maxQuantity > MaxTourCapacity {
		s.maxQuantity = MaxTourCapacity
	}
	if s.limiter == nil {
		s.rateLimit = 0
	}
	if gc, ok := p.Store.(GroupCommitter); ok && gc.GroupCommit() {
		s.batch = &batcher{svc: s, gc: gc, max: 64}
	}
	return s
}

// MaxQuantity is the most seats one booking may take.
func (s *Service) MaxQuantity() int { return s.maxQuantity }

// Now returns the service clock's time in UTC, truncated to the
// microseconds every backend stores.
func (s *Service) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Today returns today's date in APP_TIMEZONE. Tours departing today or
// earlier can no longer be booked.
func (s *Service) Today() string { return s.now().In(s.loc).Format(DateLayout) }

// BookParams is one booking request.
type BookParams struct {
	UserID   int64
	TourID   int64
	Quantity int
	// IdempotencyKey, when set, makes a repeat of the same request by the
	// same user return the first booking instead of booking again.
	IdempotencyKey string
	// RequestHash identifies the request's content; a key reused with a
	// different hash is refused.
	RequestHash string
}

// BookResult is the outcome of Book.
type BookResult struct {
	// Booking is the booking as it was when first created.
	Booking *Booking
	// Replayed is true when the booking was created by an earlier request
	// with the same idempotency key.
	Replayed bool
}

// ValidateBookParams checks the fields a client sent.
func (s *Service) ValidateBookParams(p BookParams) error {
	return ValidateBookParams(p, s.maxQuantity)
}

// ValidateBookParams checks the fields a client sent against a limit of
// maxQuantity seats per booking: a positive tour_id, a quantity within
// 1..maxQuantity and, when set, an idempotency key of 1 to 255 printable
// ASCII characters. It is the one check of a booking request; Book runs
// it before anything else.
func ValidateBookParams(p BookParams, maxQuantity int) error {
	fields := map[string]string{}
	if p.TourID <= 0 {
		fields["tour_id"] = "The tour_id field is required and must be a positive integer."
	}
	if p.Quantity < 1 || p.Quantity > maxQuantity {
		fields["quantity"] = fmt.Sprintf("The quantity must be between 1 and %d seats per booking.", maxQuantity)
	}
	if p.IdempotencyKey != "" && !validIdempotencyKey(p.IdempotencyKey) {
		fields["Idempotency-Key"] = "The Idempotency-Key header must be 1 to 255 printable ASCII characters."
	}
	if len(fields) > 0 {
		return apperr.Invalid(fields)
	}
	return nil
}

func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > maxTextLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

var errIdempotencyRace = errors.New("booking: idempotency key stored concurrently")

// Book takes the seats and inserts a pending booking in one transaction,
// together with whatever the OnCreateTx hooks insert. It fails with
// ESOLDOUT when too few seats are left, ENOTFOUND for an unknown or
// departed tour and EINVALID for a bad quantity or a reused idempotency key.
// A tour already sold out or departed is refused on a plain read, before
// any transaction, so that such requests never queue for the row lock of
// a tour everyone is booking.
func (s *Service) Book(ctx context.Context, p BookParams) (*BookResult, error) {
	if err := s.ValidateBookParams(p); err != nil {
		return nil, err
	}
	if p.IdempotencyKey != "" {
		rec, err := s.store.IdempotencyGet(ctx, p.UserID, p.IdempotencyKey)
		if err == nil {
			return replay(rec, p)
		}
		if !apperr.IsNotFound(err) {
			return nil, err
		}
	}
	// A replay above books nothing, so it is not counted.
	if err := s.checkRate(ctx, p.UserID); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		tour, err := s.store.TourSeatsGet(ctx, p.TourID)
		if err != nil {
			return nil, err
		}
		if err := tour.Refusal(p.Quantity, s.Today()); err != nil {
			return nil, err
		}
		b, err := s.bookOnce(ctx, p, tour.Price)
		switch {
		case err == nil:
			return &BookResult{Booking: b}, nil
		case errors.Is(err, errIdempotencyRace):
			// A concurrent request with the same key committed first; this
			// transaction rolled back, seats included.
			rec, gerr := s.store.IdempotencyGet(ctx, p.UserID, p.IdempotencyKey)
			if gerr != nil {
				return nil, fmt.Errorf("booking: replay: %w", gerr)
			}
			return replay(rec, p)
		case apperr.Code(err) == apperr.ECONFLICT && attempt < codeAttempts:
			// A booking code collision (draw another code) or a price
			// changed since the read above (read it again).
			continue
		default:
			return nil, err
		}
	}
}

func replay(rec *IdempotencyRecord, p BookParams) (*BookResult, error) {
	if rec.RequestHash != p.RequestHash {
		return nil, &apperr.Error{
			Code:    apperr.EINVALID,
			Message: "This Idempotency-Key was already used with a different request.",
			Fields:  map[string]string{"Idempotency-Key": "The key was already used with a different request body."},
		}
	}
	var b Booking
	if err := json.Unmarshal(rec.Body, &b); err != nil {
		return nil, fmt.Errorf("booking: decode stored response: %w", err)
	}
	return &BookResult{Booking: &b, Replayed: true}, nil
}

// bookOnce books at price, the tour's price as Book read it.
func (s *Service) bookOnce(ctx context.Context, p BookParams, price int64) (*Booking, error) {
	if s.batch != nil {
		return s.batch.book(ctx, p, price)
	}
	var b *Booking
	err := s.store.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		b, err = s.bookTx(ctx, tx, p, price)
		return err
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// bookTx is one booking inside a transaction, at price: count the
// customer's pending bookings under their row lock, run the hooks,
// remember the idempotency key, and insert the booking and take the seats
// with the conditional update, last where the store allows.
func (s *Service) bookTx(ctx context.Context, tx *sql.Tx, p BookParams, price int64) (*Booking, error) {
	now := s.Now()
	today := s.now().In(s.loc).Format(DateLayout)
	b := &Booking{
		Code: NewCode(now, s.loc), Status: StatusPending, UserID: p.UserID, TourID: p.TourID,
		Quantity: p.Quantity, UnitPrice: price, TotalAmount: price * int64(p.Quantity),
	}
	if s.maxPending > 0 {
		// The customer's row stays locked until the transaction ends, so
		// that two parallel requests cannot both see room for one more.
		// It is taken before the tour's row lock, in every booking, so
		// the two never deadlock.
		n, err := s.store.UserPendingBookingsTx(ctx, tx, p.UserID)
		if err != nil {
			return nil, err
		}
		if n >= s.maxPending {
			return nil, TooManyPendingError(s.maxPending)
		}
	}
	then := func() error { return s.hooksTx(ctx, tx, b, p) }
	if s.hooksLast {
		then = nil
	}
	// The store sets created_at and expires_at by the database's clock:
	// the hold ends when the expiry sweep, which reads the same clock,
	// says so.
	if err := s.store.BookingCreateTx(ctx, tx, b, today, s.expiry, then); err != nil {
		return nil, err
	}
	if s.hooksLast {
		if err := s.hooksTx(ctx, tx, b, p); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// hooksTx runs the OnCreateTx hooks on the booking b and stores the answer
// under the request's idempotency key.
func (s *Service) hooksTx(ctx context.Context, tx *sql.Tx, b *Booking, p BookParams) error {
	for _, h := range s.onCreateTx {
		if err := h(ctx, tx, b); err != nil {
			return fmt.Errorf("booking: create hook: %w", err)
		}
	}
	if p.IdempotencyKey == "" {
		return nil
	}
	body, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("booking: encode response: %w", err)
	}
	err = s.store.IdempotencyInsertTx(ctx, tx, &IdempotencyRecord{
		UserID: p.UserID, Key: p.IdempotencyKey, RequestHash: p.RequestHash,
		StatusCode: http.StatusCreated, Body: body, BookingID: b.ID, CreatedAt: b.CreatedAt,
	})
	if apperr.Code(err) == apperr.ECONFLICT {
		return errIdempotencyRace
	}
	return err
}

// ReleaseTx moves a pending booking to status (expired, cancelled or
// failed) and gives its seats back, inside the caller's transaction, then
// runs the OnReleaseTx hooks. It is idempotent: a booking that is no longer
// pending is left alone and released is false. Cancel releases through
// it; the expiry jobs expire whole chunks with the store's ExpiryExpireTx. A
// payment notification releases through ApplyPaymentTx (the state table's
// denied, cancelled, expired and refunded cells). All of them give the
// seats back with the store's one seat-release statement, under its one
// rule: a tour's quota never exceeds its capacity.
func (s *Service) ReleaseTx(ctx context.Context, tx *sql.Tx, bookingID int64, status Status, at time.Time) (released bool, err error) {
	switch status {
	case StatusExpired, StatusCancelled, StatusFailed:
	default:
		return false, fmt.Errorf("booking: release to %q: only expired, cancelled or failed", status)
	}
	released, err = s.store.BookingReleaseTx(ctx, tx, bookingID, status, at.UTC().Truncate(time.Microsecond))
	if err != nil || !released || len(s.onReleaseTx) == 0 {
		return released, err
	}
	b, err := s.store.BookingGetTx(ctx, tx, bookingID)
	if err != nil {
		return false, err
	}
	for _, h := range s.onReleaseTx {
		if err := h(ctx, tx, b); err != nil {
			return false, fmt.Errorf("booking: release hook: %w", err)
		}
	}
	return true, nil
}

// Release runs ReleaseTx in a transaction of its own.
func (s *Service) Release(ctx context.Context, bookingID int64, status Status) (released bool, err error) {
	err = s.store.InTx(ctx, func(tx *sql.Tx) error {
		released, err = s.ReleaseTx(ctx, tx, bookingID, status, s.Now())
		return err
	})
	return released, err
}

// Get returns a booking to its owner or an admin; anyone else gets
// ENOTFOUND, so that booking IDs reveal nothing.
func (s *Service) Get(ctx context.Context, actor *User, id int64) (*Booking, error) {
	b, err := s.store.BookingGet(ctx, id)
	if err != nil {
		return nil, err
	}
	if !actor.IsAdmin && b.UserID != actor.ID {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "Booking not found.")
	}
	return b, nil
}

// List returns one page of the user's bookings, newest first, and the
// total count.
func (s *Service) List(ctx context.Context, userID int64, p Page) ([]*Booking, int, error) {
	return s.store.BookingListByUser(ctx, userID, normalizePage(p))
}

// Cancel cancels a pending booking of its owner (or of anyone, for an
// admin) and gives its seats back. Bookings in any other state fail with
// ECONFLICT.
func (s *Service) Cancel(ctx context.Context, actor *User, id int64) (*Booking, error) {
	if _, err := s.Get(ctx, actor, id); err != nil {
		return nil, err
	}
	var out *Booking
	err := s.store.InTx(ctx, func(tx *sql.Tx) error {
		released, err := s.ReleaseTx(ctx, tx, id, StatusCancelled, s.Now())
		if err != nil {
			return err
		}
		out, err = s.store.BookingGetTx(ctx, tx, id)
		if err != nil {
			return err
		}
		if !released {
			return apperr.Errorf(apperr.ECONFLICT, "Only pending bookings can be cancelled; this booking is %s.", out.Status)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func normalizePage(p Page) Page {
	if p.Number < 1 {
		p.Number = 1
	}
	if p.PerPage < 1 {
		p.PerPage = defaultPerPage
	}
	if p.PerPage > maxPerPage {
		p.PerPage = maxPerPage
	}
	return p
}

// ValidatePage checks paging parameters a client sent.
func ValidatePage(p Page) error {
	fields := map[string]string{}
	if p.Number < 1 {
		fields["page"] = "The page must be at least 1."
	}
	if p.PerPage < 1 || p.PerPage > maxPerPage {
		fields["per_page"] = fmt.Sprintf("The per_page must be between 1 and %d.", maxPerPage)
	}
	if len(fields) > 0 {
		return apperr.Invalid(fields)
	}
	return nil
}

// DefaultPage is the first page at the default size.
func DefaultPage() Page { return Page{Number: 1, PerPage: defaultPerPage} }

// GetTour returns a tour.
func (s *Service) GetTour(ctx context.Context, id int64) (*Tour, error) {
	return s.store.TourGet(ctx, id)
}

// ListTours returns one page of tours ordered by departure. Without a date
// bound it lists only tours that can still be booked (departing after
// today).
func (s *Service) ListTours(ctx context.Context, f TourFilter) ([]*Tour, int, error) {
	fields := map[string]string{}
	for name, v := range map[string]string{"date_from": f.From, "date_to": f.To, "after": f.After} {
		if v != "" && !validDate(v) {
			fields[name] = "The " + name + " must be a date in YYYY-MM-DD format."
		}
	}
	if len(f.Destination) > maxTextLen {
		fields["destination"] = "The destination may not be longer than 255 characters."
	}
	if len(fields) > 0 {
		return nil, 0, apperr.Invalid(fields)
	}
	if f.From == "" && f.To == "" && f.After == "" {
		f.After = s.Today()
	}
	f.Page = normalizePage(f.Page)
	return s.store.TourList(ctx, f)
}

// CreateTour validates and stores a new tour with all seats free. Title,
// destination, departure date (after today), price (at least 1 rupiah) and
// capacity are required.
func (s *Service) CreateTour(ctx context.Context, c TourChanges) (*Tour, error) {
	fields := s.validateTour(c, true)
	if len(fields) > 0 {
		return nil, apperr.Invalid(fields)
	}
	now := s.Now()
	t := &Tour{
		Title: strings.TrimSpace(*c.Title), Destination: strings.TrimSpace(*c.Destination),
		DepartureDate: *c.DepartureDate, Price: *c.Price, Capacity: *c.Capacity, Quota: *c.Capacity,
		CreatedAt: now, UpdatedAt: now,
	}
	if c.Description != nil {
		t.Description = strings.TrimSpace(*c.Description)
	}
	if err := s.store.TourCreate(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// UpdateTour changes the given fields. A capacity change moves the quota by
// the same amount and is refused below the seats already held.
func (s *Service) UpdateTour(ctx context.Context, id int64, c TourChanges) (*Tour, error) {
	if fields := s.validateTour(c, false); len(fields) > 0 {
		return nil, apperr.Invalid(fields)
	}
	for _, p := range []*string{c.Title, c.Destination, c.Description} {
		if p != nil {
			*p = strings.TrimSpace(*p)
		}
	}
	return s.store.TourUpdate(ctx, id, c, s.Now())
}

// DeleteTour deletes a tour that has never been booked; otherwise it fails
// with ECONFLICT.
func (s *Service) DeleteTour(ctx context.Context, id int64) error {
	return s.store.TourDelete(ctx, id)
}

func (s *Service) validateTour(c TourChanges, create bool) map[string]string {
	fields := map[string]string{}
	text := func(name string, v *string, max int, required bool) {
		switch {
		case v == nil:
			if create && required {
				fields[name] = "The " + name + " field is required."
			}
		case required && strings.TrimSpace(*v) == "":
			fields[name] = "The " + name + " field is required."
		case utf8.RuneCountInString(*v) > max:
			fields[name] = fmt.Sprintf("The %s may not be longer than %d characters.", name, max)
		case !utf8.ValidString(*v):
			fields[name] = "The " + name + " must be valid UTF-8 text."
		}
	}
	text("title", c.Title, maxTextLen, true)
	text("destination", c.Destination, maxTextLen, true)
	text("description", c.Description, maxDescription, false)
	switch {
	case c.DepartureDate == nil:
		if create {
			fields["departure_date"] = "The departure_date field is required."
		}
	case !validDate(*c.DepartureDate):
		fields["departure_date"] = "The departure_date must be a date in YYYY-MM-DD format."
	case create && *c.DepartureDate <= s.Today():
		fields["departure_date"] = "The departure_date must be a date after today."
	}
	switch {
	case c.Price == nil:
		if create {
			fields["price"] = "The price field is required."
		}
	case *c.Price < 1 || *c.Price > MaxTourPrice:
		// A booking of 0 rupiah cannot be paid through Midtrans, so a free
		// tour's bookings would only hold its seats until they expire.
		fields["price"] = fmt.Sprintf("The price must be between 1 and %d rupiah: a tour with a price of 0 cannot be paid, so it cannot be booked.", int64(MaxTourPrice))
	}
	switch {
	case c.Capacity == nil:
		if create {
			fields["capacity"] = "The capacity field is required."
		}
	case *c.Capacity < 1 || *c.Capacity > MaxTourCapacity:
		fields["capacity"] = fmt.Sprintf("The capacity must be between 1 and %d.", MaxTourCapacity)
	}
	return fields
}

func validDate(s string) bool {
	if len(s) != len(DateLayout) {
		return false
	}
	_, err := time.Parse(DateLayout, s)
	return err == nil
}
