package roomhub

import (
	"context"
	"time"
)

// Role is what a user may do in one organization.
type Role string

// Roles, from most to least powerful.
const (
	RoleOwner  Role = "owner"  // everything, including owners' roles
	RoleAdmin  Role = "admin"  // users, keys, settings, moderation
	RoleViewer Role = "viewer" // reads everything, changes nothing
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleOwner || r == RoleAdmin || r == RoleViewer }

// CanManage reports whether r may change settings, users and keys.
func (r Role) CanManage() bool { return r == RoleOwner || r == RoleAdmin }

// ErrLastOwner refuses a role change or removal that would leave an
// organization without an owner. The store decides it in the same
// transaction as the change, so two owners stepping down at once cannot
// both succeed; callers tell it apart with errors.Is.
var ErrLastOwner = &Error{Code: ECONFLICT, Message: "An organization needs at least one owner. Make someone else an owner first."}

// User is a dashboard account. A user belongs to one or more organizations
// through Memberships.
type User struct {
	ID           int64
	Email        string // lower-cased, unique
	Name         string
	PasswordHash string // Argon2id, PHC-encoded; "" for SSO-only users
	// TOTPSecret is the sealed (encrypted) TOTP secret; "" until enrolled.
	TOTPSecret string
	// TOTPLastStep is the last 30-second step a code was accepted for, so a
	// code is never accepted twice.
	TOTPLastStep int64
	CreatedAt    time.Time
}

// Enrolled reports whether the user has finished TOTP enrolment.
func (u User) Enrolled() bool { return u.TOTPSecret != "" }

// Membership is a user's role in an organization.
type Membership struct {
	OrgID     int64
	UserID    int64
	Role      Role
	CreatedAt time.Time
	// Filled by list queries for display.
	OrgSlug, OrgName    string
	UserEmail, UserName string
	UserEnrolled        bool
}

// OrgSettings are an organization's settings. AgoraCertificate is sealed
// and is never sent back to a browser.
type OrgSettings struct {
	OrgID            int64
	AgoraAppID       string
	AgoraCertificate string // sealed
	// SSODomain is the email domain whose SSO users may join the
	// organization. An operator verifies it (roomhub org verify-domain);
	// an unverified domain provisions nobody.
	SSODomain         string
	SSODomainVerified bool
	SSOAutoProvision  bool
	UpdatedAt         time.Time
}

// TokenKind says what a one-time user token is for.
type TokenKind string

const (
	TokenInvite TokenKind = "invite" // join an organization (and set up an account)
	TokenReset  TokenKind = "reset"  // set a new password
)

// UserToken is a one-time link token. Only its SHA-256 is stored.
type UserToken struct {
	ID        int64
	Kind      TokenKind
	OrgID     int64
	Email     string
	Role      Role  // for invitations
	UserID    int64 // for resets
	Hash      string
	CreatedBy int64
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until used
}

// UserSession is a dashboard session, stored server-side. ID is the SHA-256
// of the cookie value. A session that passed the password but not the second
// factor has Verified false and reaches only the 2FA pages.
type UserSession struct {
	ID        string
	UserID    int64
	Verified  bool // second factor passed (or enrolment completed)
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time
	IP        string
	UserAgent string
	// CodeFailures counts the wrong second-factor codes entered in this
	// pending sign-in (see Accounts.RecordCodeFailure).
	CodeFailures int
}

// LoginAttempts is the failure count of one (email, IP) pair.
type LoginAttempts struct {
	Email       string
	IP          string
	Failures    int
	LockedUntil time.Time // zero when not locked
	UpdatedAt   time.Time
}

// APIKey is an organization's key for the server API. Only an HMAC of the
// key is stored; Prefix is shown so people can tell keys apart.
type APIKey struct {
	ID        int64
	OrgID     int64
	Name      string
	Prefix    string
	Hash      string
	CreatedBy int64
	CreatedAt time.Time
	LastUsed  time.Time // zero if never
	RevokedAt time.Time // zero if active
}

// Active reports whether the key may be used.
func (k APIKey) Active() bool { return k.RevokedAt.IsZero() }

// AuditFilter selects audit rows of one organization, newest first.
type AuditFilter struct {
	Action  string // the action or any under it: "login" matches "login" and "login.failed", not "logout"
	Actor   string // exact actor id or name
	Success *bool
	Since   time.Time
	Until   time.Time
	Before  int64 // rows with id < Before (paging); 0 = from the newest
	Limit   int   // capped by the store
}

// Accounts is the durable state behind the dashboard, one interface per
// concern; a handler asks for the concerns it uses. Every method that
// touches an organization's data takes the organization id and filters by
// it: there is no lookup of a tenant object by id alone.
type Accounts interface {
	Orgs
	Users
	SecondFactors
	Memberships
	UserTokens
	UserSessions
	Lockouts
	APIKeys
	AuditLog
}

// Orgs lists organizations and keeps their settings and sealed secrets.
type Orgs interface {
	ListOrgs(ctx context.Context) ([]Org, error)
	OrgByID(ctx context.Context, id int64) (Org, error)

	OrgSettings(ctx context.Context, orgID int64) (OrgSettings, error)
	SaveOrgSettings(ctx context.Context, s OrgSettings) error
	// OrgByVerifiedDomain returns the organization that verified domain.
	OrgByVerifiedDomain(ctx context.Context, domain string) (Org, OrgSettings, error)
	// ListSealedSecrets and ReplaceSealedSecrets serve key rotation: every
	// sealed value in the store, and an update of all of them in one
	// transaction that fails if any changed meanwhile.
	ListSealedSecrets(ctx context.Context) ([]SealedSecret, error)
	ReplaceSealedSecrets(ctx context.Context, s []SealedSecret) error
}

// Users are the people who sign in to the dashboard.
type Users interface {
	CreateUser(ctx context.Context, u User) (User, error)
	// UserByEmail and UserByID are global: a user is not tenant data; what
	// they may see is decided by Membership.
	UserByEmail(ctx context.Context, email string) (User, error)
	UserByID(ctx context.Context, id int64) (User, error)
	SetPassword(ctx context.Context, userID int64, hash string) error
	SetUserName(ctx context.Context, userID int64, name string) error
}

// SecondFactors keeps each user's TOTP secret, used steps and backup codes.
type SecondFactors interface {
	// SetTOTP enrols (secret != "") or resets (secret == "") the second
	// factor, replacing the backup codes with codeHashes.
	SetTOTP(ctx context.Context, userID int64, secret string, codeHashes []string) error
	// UseTOTPStep records step as used; false if a step >= step was already.
	UseTOTPStep(ctx context.Context, userID int64, step int64) (bool, error)
	// UseBackupCode marks the code with hash as used; false if none unused.
	UseBackupCode(ctx context.Context, userID int64, hash string) (bool, error)
	UnusedBackupCodes(ctx context.Context, userID int64) (int, error)
}

// Memberships are users' roles in organizations.
type Memberships interface {
	AddMembership(ctx context.Context, orgID, userID int64, role Role) error
	Membership(ctx context.Context, orgID, userID int64) (Membership, error)
	ListMemberships(ctx context.Context, userID int64) ([]Membership, error)
	ListOrgUsers(ctx context.Context, orgID int64) ([]Membership, error)
	// SetRole and RemoveMembership refuse, with ErrLastOwner, to take away
	// an organization's only owner; the check and the change are one
	// transaction.
	SetRole(ctx context.Context, orgID, userID int64, role Role) error
	RemoveMembership(ctx context.Context, orgID, userID int64) error
	CountOwners(ctx context.Context, orgID int64) (int, error)
}

// UserTokens are one-time invitation and password reset links.
type UserTokens interface {
	CreateUserToken(ctx context.Context, t UserToken) (UserToken, error)
	// UserTokenByHash returns an unused, unexpired token.
	UserTokenByHash(ctx context.Context, kind TokenKind, hash string, now time.Time) (UserToken, error)
	// UseUserToken marks it used; false if it already was.
	UseUserToken(ctx context.Context, id int64, now time.Time) (bool, error)
	ListInvitations(ctx context.Context, orgID int64, now time.Time) ([]UserToken, error)
	RevokeInvitation(ctx context.Context, orgID, id int64) error
	// RevokeTokensIssuedBy spends every unused invitation and reset link
	// the user issued in the organization (they lost the right to issue
	// them), and reports how many.
	RevokeTokensIssuedBy(ctx context.Context, orgID, userID int64) (int, error)
}

// UserSessions are dashboard sign-ins (not participant sessions, which the
// Store keeps).
type UserSessions interface {
	CreateUserSession(ctx context.Context, s UserSession) error
	UserSession(ctx context.Context, id string) (UserSession, error)
	TouchUserSession(ctx context.Context, id string, lastSeen time.Time) error
	DeleteUserSession(ctx context.Context, id string) error
	DeleteUserSessions(ctx context.Context, userID int64) (int, error)
	DeleteAllUserSessions(ctx context.Context) (int, error)
	// RecordCodeFailure counts one wrong second-factor code against the
	// pending (not yet verified) session id, in one statement, and returns
	// the new count; ENOTFOUND if there is no such pending session.
	RecordCodeFailure(ctx context.Context, id string) (int, error)
}

// Lockouts count failed sign-ins per email and address.
type Lockouts interface {
	LoginAttempts(ctx context.Context, email, ip string) (LoginAttempts, error)
	// RecordLoginFailure adds a failure and locks the pair for lockFor once
	// failures reach limit; it returns the updated row.
	RecordLoginFailure(ctx context.Context, email, ip string, limit int, lockFor time.Duration, now time.Time) (LoginAttempts, error)
	ClearLoginAttempts(ctx context.Context, email, ip string) (int, error) // "" matches all
}

// APIKeys are organizations' keys for the /api/v1 API.
type APIKeys interface {
	CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error)
	ListAPIKeys(ctx context.Context, orgID int64) ([]APIKey, error)
	// APIKeyByHash is the one lookup not scoped by organization: the key
	// itself names its organization.
	APIKeyByHash(ctx context.Context, hash string) (APIKey, error)
	RevokeAPIKey(ctx context.Context, orgID, id int64, now time.Time) error
	TouchAPIKey(ctx context.Context, id int64, now time.Time) error
}

// AuditLog reads an organization's audit rows (the Store appends them).
type AuditLog interface {
	QueryAudit(ctx context.Context, orgID int64, f AuditFilter) ([]AuditEntry, error)
}

// SealedSecret is one encrypted value in the store, for key rotation.
type SealedSecret struct {
	Table  string // "org_settings", "users" or "webhook_endpoints"
	Column string
	ID     int64
	Value  string
}
