package booking

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/tripintravel/tripin/internal/apperr"
)

// Password length limits. bcrypt reads at most 72 bytes.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 72
)

// MaxEmailLen is the longest email an account can have; a login with a
// longer one is refused before any lookup.
const MaxEmailLen = maxTextLen

// DefaultTokenTTL is the lifetime of an API token when AccountsParams
// sets none.
const DefaultTokenTTL = 7 * 24 * time.Hour

// AccountsParams configures Accounts.
type AccountsParams struct {
	Store UserStore
	// BcryptCost is the bcrypt work factor; 0 means bcrypt.DefaultCost.
	// Tests lower it to bcrypt.MinCost.
	BcryptCost int
	// TokenTTL is how long an API token authenticates after it was
	// issued (AUTH_TOKEN_TTL); 0 means DefaultTokenTTL.
	TokenTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Accounts registers users, checks passwords and issues, resolves and
// revokes API tokens. Only a token's SHA-256 hash is ever stored.
type Accounts struct {
	store     UserStore
	cost      int
	ttl       time.Duration
	now       func() time.Time
	dummyHash []byte
}

// NewAccounts returns an Accounts service.
func NewAccounts(p AccountsParams) *Accounts {
	a := &Accounts{store: p.Store, cost: p.BcryptCost, ttl: p.TokenTTL, now: p.Now}
	if a.cost == 0 {
		a.cost = bcrypt.DefaultCost
	}
	if a.ttl <= 0 {
		a.ttl = DefaultTokenTTL
	}
	if a.now == nil {
		a.now = time.Now
	}
	// Logins for unknown emails compare against this hash, so that they
	// take as long as logins with a wrong password.
	a.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("tripin-no-such-user"), a.cost)
	return a
}

// NewUser is an account to create.
type NewUser struct {
	Name     string
	Email    string
	Password string
	IsAdmin  bool
}

// NormalizeEmail trims and lower-cases an email address, so that logins
// and uniqueness ignore case.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// ValidateNewUser checks a new account's fields.
func ValidateNewUser(u NewUser) error {
	fields := map[string]string{}
	name := strings.TrimSpace(u.Name)
	switch {
	case name == "":
		fields["name"] = "The name field is required."
	case utf8.RuneCountInString(name) > maxTextLen || !utf8.ValidString(name):
		fields["name"] = "The name may not be longer than 255 characters."
	}
	email := NormalizeEmail(u.Email)
	switch {
	case email == "":
		fields["email"] = "The email field is required."
	case len(email) > maxTextLen || !validEmail(email):
		fields["email"] = "The email must be a valid email address."
	}
	switch {
	}
	if msg := validatePassword(u.Password); msg != "" {
		fields["password"] = msg
	}
	if len(fields) > 0 {
		return apperr.Invalid(fields)
	}
	return nil
}

// validatePassword returns what is wrong with a new password, or "".
func validatePassword(pw string) string {
	switch {
	case pw == "":
		return "The password field is required."
	case len(pw) < MinPasswordLen:
		return fmt.Sprintf("The password must be at least %d characters.", MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Sprintf("The password may not be longer than %d bytes.", MaxPasswordLen)
	}
	return ""
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && strings.Contains(s[strings.LastIndexByte(s, '@'):], ".")
}

// CreateUser validates and stores a new account. A taken email fails with
// EINVALID on the email field.
func (a *Accounts) CreateUser(ctx context.Context, nu NewUser) (*User, error) {
	if err := ValidateNewUser(nu); err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(nu.Password), a.cost)
	if err != nil {
		return nil, fmt.Errorf("booking: hash password: %w", err)
	}
	now := a.now().UTC().Truncate(time.Microsecond)
	u := &User{
		Name: strings.TrimSpace(nu.Name), Email: NormalizeEmail(nu.Email), IsAdmin: nu.IsAdmin,
		PasswordHash: string(hash), CreatedAt: now, UpdatedAt: now,
	}
	if err := a.store.UserCreate(ctx, u); err != nil {
		if apperr.Code(err) == apperr.ECONFLICT {
			return nil, apperr.Invalid(map[string]string{"email": "The email has already been taken."})
		}
		return nil, err
	}
	return u, nil
}

// Register creates a customer account and a first API token for it.
func (a *Accounts) Register(ctx context.Context, nu NewUser) (*User, string, error) {
	nu.IsAdmin = false
	u, err := a.CreateUser(ctx, nu)
	if err != nil {
		return nil, "", err
	}
	tok, err := a.IssueToken(ctx, u.ID, "register")
	if err != nil {
		return nil, "", err
	}
	return u, tok, nil
}

// ErrBadCredentials is returned by Login for an unknown email or a wrong
// password, which it does not tell apart.
var ErrBadCredentials = &apperr.Error{Code: apperr.EUNAUTHORIZED, Message: "These credentials do not match our records."}

// Login checks an email and password and issues a new API token. An
// email longer than any account's is refused without a lookup.
func (a *Accounts) Login(ctx context.Context, email, password string) (*User, string, error) {
	email = NormalizeEmail(email)
	if len(email) > MaxEmailLen {
		return nil, "", ErrBadCredentials
	}
	u, err := a.store.UserGetByEmail(ctx, email)
	if err != nil {
		if !apperr.IsNotFound(err) {
			return nil, "", err
		}
		_ = bcrypt.CompareHashAndPassword(a.dummyHash, []byte(password))
		return nil, "", ErrBadCredentials
	}
	if err := bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)); err != nil {
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) || errors.Is(err, bcrypt.ErrPasswordTooLong) {
			return nil, "", ErrBadCredentials
		}
		return nil, "", fmt.Errorf("booking: check password: %w", err)
	}
	tok, err := a.IssueToken(ctx, u.ID, "login")
	if err != nil {
		return nil, "", err
	}
	return u, tok, nil
}

// IssueToken creates a random API token for a user and stores its hash;
// it expires after the token lifetime. The plain token is returned once
// and never stored.
func (a *Accounts) IssueToken(ctx context.Context, userID int64, name string) (string, error) {
	return a.IssueTokenTTL(ctx, userID, name, a.ttl)
}

// IssueTokenTTL is IssueToken for a token that expires after ttl, or
// after the token lifetime if that is shorter (the dashboard's sessions).
func (a *Accounts) IssueTokenTTL(ctx context.Context, userID int64, name string, ttl time.Duration) (string, error) {
	tok := NewToken()
	now := a.now().UTC().Truncate(time.Microsecond)
	if ttl <= 0 || ttl > a.ttl {
		ttl = a.ttl
	}
	if err := a.store.TokenCreate(ctx, userID, name, HashToken(tok), now, now.Add(ttl)); err != nil {
		return "", err
	}
	return tok, nil
}

// TokenTTL is the lifetime of the tokens IssueToken issues.
func (a *Accounts) TokenTTL() time.Duration { return a.ttl }

// Authenticate returns the user a bearer token belongs to, or
// EUNAUTHORIZED.
func (a *Accounts) Authenticate(ctx context.Context, token string) (*User, error) {
	if !validTokenShape(token) {
		return nil, apperr.Errorf(apperr.EUNAUTHORIZED, "Unauthenticated.")
	}
	now := a.now().UTC()
	u, err := a.store.TokenUser(ctx, HashToken(token), now, now.Add(-a.ttl))
	if apperr.IsNotFound(err) {
		return nil, apperr.Errorf(apperr.EUNAUTHORIZED, "Unauthenticated.")
	}
	return u, err
}

// Logout revokes a token.
func (a *Accounts) Logout(ctx context.Context, token string) error {
	return a.store.TokenDelete(ctx, HashToken(token))
}

// LogoutAll revokes every token of a user, on every device and the
// dashboard's session too, and returns how many there were.
func (a *Accounts) LogoutAll(ctx context.Context, userID int64) (int64, error) {
	return a.store.TokenDeleteUser(ctx, userID)
}

// ChangePassword checks a user's current password, then sets the new one
// and revokes every token of the user (SetPassword). A wrong current
// password fails with EINVALID on current_password, and changes nothing.
func (a *Accounts) ChangePassword(ctx context.Context, u *User, current, next string) error {
	fields := map[string]string{}
	if current == "" {
		fields["current_password"] = "The current password field is required."
	}
	if msg := validatePassword(next); msg != "" {
		fields["password"] = msg
	}
	if len(fields) > 0 {
		return apperr.Invalid(fields)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(current)); err != nil {
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) || errors.Is(err, bcrypt.ErrPasswordTooLong) {
			return apperr.Invalid(map[string]string{"current_password": "The current password is incorrect."})
		}
		return fmt.Errorf("booking: check password: %w", err)
	}
	return a.SetPassword(ctx, u.ID, next)
}

// SetPassword sets a user's password and revokes every token of the user
// in the same transaction, so that a session opened with the old password
// ends with it.
func (a *Accounts) SetPassword(ctx context.Context, userID int64, password string) error {
	if msg := validatePassword(password); msg != "" {
		return apperr.Invalid(map[string]string{"password": msg})
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), a.cost)
	if err != nil {
		return fmt.Errorf("booking: hash password: %w", err)
	}
	return a.store.UserSetPassword(ctx, userID, string(hash), a.now().UTC().Truncate(time.Microsecond))
}

// tokenPrefix marks Tripin API tokens, so that secret scanners can find
// leaked ones.
const tokenPrefix = "trp_"

// NewToken returns a new random API token: a prefix and 256 random bits.
func NewToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("booking: crypto/rand failed: " + err.Error())
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

func validTokenShape(tok string) bool {
	return len(tok) == len(tokenPrefix)+43 && strings.HasPrefix(tok, tokenPrefix)
}

// HashToken returns the hex SHA-256 of a token, which is what the database
// stores and looks up. A plain hash suffices: tokens carry 256 random bits,
// so there is nothing to brute-force.
func HashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}
