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

// AccountsParams configures Accounts.
type AccountsParams struct {
	Store UserStore
	// BcryptCost is the bcrypt work factor; 0 means bcrypt.DefaultCost.
	// Tests lower it to bcrypt.MinCost.
	BcryptCost int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Accounts registers users, checks passwords and issues, resolves and
// revokes API tokens. Only a token's SHA-256 hash is ever stored.
type Accounts struct {
	store     UserStore
	cost      int
	now       func() time.Time
	dummyHash []byte
}

// NewAccounts returns an Accounts service.
func NewAccounts(p AccountsParams) *Accounts {
	a := &Accounts{store: p.Store, cost: p.BcryptCost, now: p.Now}
	if a.cost == 0 {
		a.cost = bcrypt.DefaultCost
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
	case u.Password == "":
		fields["password"] = "The password field is required."
	case len(u.Password) < MinPasswordLen:
		fields["password"] = fmt.Sprintf("The password must be at least %d characters.", MinPasswordLen)
	case len(u.Password) > MaxPasswordLen:
		fields["password"] = fmt.Sprintf("The password may not be longer than %d bytes.", MaxPasswordLen)
	}
	if len(fields) > 0 {
		return apperr.Invalid(fields)
	}
	return nil
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

// Login checks an email and password and issues a new API token.
func (a *Accounts) Login(ctx context.Context, email, password string) (*User, string, error) {
	u, err := a.store.UserGetByEmail(ctx, NormalizeEmail(email))
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

// IssueToken creates a random API token for a user and stores its hash.
// The plain token is returned once and never stored.
func (a *Accounts) IssueToken(ctx context.Context, userID int64, name string) (string, error) {
	tok := NewToken()
	if err := a.store.TokenCreate(ctx, userID, name, HashToken(tok), a.now().UTC().Truncate(time.Microsecond)); err != nil {
		return "", err
	}
	return tok, nil
}

// Authenticate returns the user a bearer token belongs to, or
// EUNAUTHORIZED.
func (a *Accounts) Authenticate(ctx context.Context, token string) (*User, error) {
	if !validTokenShape(token) {
		return nil, apperr.Errorf(apperr.EUNAUTHORIZED, "Unauthenticated.")
	}
	u, err := a.store.TokenUser(ctx, HashToken(token), a.now().UTC())
	if apperr.IsNotFound(err) {
		return nil, apperr.Errorf(apperr.EUNAUTHORIZED, "Unauthenticated.")
	}
	return u, err
}

// Logout revokes a token.
func (a *Accounts) Logout(ctx context.Context, token string) error {
	return a.store.TokenDelete(ctx, HashToken(token))
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
