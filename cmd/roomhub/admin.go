package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"roomhub"
	"roomhub/account"
	"roomhub/config"
	"roomhub/secret"
	"roomhub/store/sqlstore"
)

// adminTimeout bounds an operator command against the store.
const adminTimeout = 30 * time.Second

// admin runs an operator command (org, user, lock, sessions, secrets
// rotate) against the configured store. It needs only DATA_DIR or
// DATABASE_URL, so it works where the server's secrets are not set.
func admin(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(getenv)
	var probs config.Error
	if errors.As(err, &probs) {
		for _, p := range probs {
			if p.Var == "DATABASE_URL" {
				fmt.Fprintln(stderr, "roomhub:", p)
				return 2
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	st, err := openStore(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "roomhub: open store:", err)
		return 1
	}
	defer st.Close()
	fs := flag.NewFlagSet(strings.Join(args[:2], " "), flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		slug   = fs.String("slug", "", "organization slug (letters, digits, -)")
		name   = fs.String("name", "", "display name")
		org    = fs.String("org", "", "organization slug")
		email  = fs.String("email", "", "email address")
		role   = fs.String("role", "", "owner, admin or viewer")
		domain = fs.String("domain", "", "email domain, e.g. example.com")
		ip     = fs.String("ip", "", "client IP address")
		all    = fs.Bool("all", false, "every lock")
		oldKey = fs.String("old-key", "", "current APP_MASTER_KEY")
		newKey = fs.String("new-key", "", "new APP_MASTER_KEY")
	)
	if err := fs.Parse(args[2:]); err != nil {
		return 2
	}
	err = adminRun(ctx, st, cfg, args[0]+" "+args[1], adminArgs{*slug, *name, *org, *email, *role, *domain, *ip, *all, *oldKey, *newKey}, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "roomhub:", roomhub.ErrorMessage(err))
		var e *roomhub.Error
		if !errors.As(err, &e) || e.Code == roomhub.EINTERNAL || e.Code == roomhub.EUNAVAILABLE {
			fmt.Fprintln(stderr, "roomhub: detail:", err)
		}
		return 1
	}
	return 0
}

type adminArgs struct {
	slug, name, org, email, role, domain, ip string
	all                                      bool
	oldKey, newKey                           string
}

func adminRun(ctx context.Context, st *sqlstore.Store, cfg config.Config, cmd string, a adminArgs, out io.Writer) error {
	now := time.Now()
	orgArg := func() (roomhub.Org, error) {
		if a.org == "" {
			return roomhub.Org{}, roomhub.Invalid("org", "--org is required.")
		}
		return st.OrgBySlug(ctx, a.org)
	}
	switch cmd {
	case "org create":
		if err := roomhub.ValidateOrgSlug(a.slug); err != nil {
			return err
		}
		if a.name == "" {
			a.name = a.slug
		}
		o, err := st.CreateOrg(ctx, a.slug, a.name)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "created organization %s (id %d); participants join at /o/%s/\n", o.Slug, o.ID, o.Slug)
	case "org verify-domain":
		o, err := orgArg()
		if err != nil {
			return err
		}
		d := strings.ToLower(strings.TrimSpace(a.domain))
		if d == "" || !strings.Contains(d, ".") {
			return roomhub.Invalid("domain", "--domain must be a domain like example.com.")
		}
		set, err := st.OrgSettings(ctx, o.ID)
		if err != nil {
			return err
		}
		set.OrgID, set.SSODomain, set.SSODomainVerified, set.UpdatedAt = o.ID, d, true, now
		if err := st.SaveOrgSettings(ctx, set); err != nil {
			return err
		}
		st.AppendAudit(ctx, roomhub.AuditEntry{OrgID: o.ID, At: now, ActorID: "operator", ActorName: "roomhub CLI", Action: "settings.sso_domain_verified",
			ObjectType: "org", ObjectID: o.Slug, Description: "domain " + d + " verified by the operator", Success: true})
		fmt.Fprintf(out, "%s now owns SSO sign-ins from @%s (new users join only if the organization allows it)\n", o.Slug, d)
	case "user create":
		o, err := orgArg()
		if err != nil {
			return err
		}
		e, err := account.NormalizeEmail(a.email)
		if err != nil {
			return err
		}
		r := roomhub.Role(a.role)
		if !r.Valid() {
			return roomhub.Invalid("role", "--role must be owner, admin or viewer.")
		}
		link, err := account.IssueInvitation(ctx, st, now, cfg.InviteTTL, cliBase(cfg), o.ID, e, r, 0)
		if err != nil {
			return err
		}
		st.AppendAudit(ctx, roomhub.AuditEntry{OrgID: o.ID, At: now, ActorID: "operator", ActorName: "roomhub CLI", Action: "invitation.create",
			ObjectType: "invitation", ObjectID: e, Description: "setup link created as " + string(r), Success: true})
		fmt.Fprintf(out, "one-time setup link for %s (%s of %s), valid for %s:\n%s\n", e, r, o.Slug, cfg.InviteTTL, link)
	case "lock clear":
		if !a.all && a.email == "" && a.ip == "" {
			return roomhub.Invalid("email", "Give --email, --ip, or --all.")
		}
		e := a.email
		if e != "" {
			var err error
			if e, err = account.NormalizeEmail(e); err != nil {
				return err
			}
		}
		n, err := st.ClearLoginAttempts(ctx, e, a.ip)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "cleared %d lock(s) and failure counts\n", n)
	case "apikey create":
		o, err := orgArg()
		if err != nil {
			return err
		}
		if a.name == "" || len([]rune(a.name)) > account.MaxKeyNameLen {
			return roomhub.Invalid("name", "--name must be 1 to %d characters.", account.MaxKeyNameLen)
		}
		if cfg.APIKeySecret == "" && cfg.Debug {
			if err := devKeys(&cfg); err != nil {
				return err
			}
		}
		if cfg.APIKeySecret == "" {
			return roomhub.Invalid("API_KEY_SECRET", "API_KEY_SECRET is not set: the key could not be checked by the server.")
		}
		key, prefix, hash := account.NewAPIKey(cfg.APIKeySecret)
		k, err := st.CreateAPIKey(ctx, roomhub.APIKey{OrgID: o.ID, Name: a.name, Prefix: prefix, Hash: hash, CreatedAt: now})
		if err != nil {
			return err
		}
		st.AppendAudit(ctx, roomhub.AuditEntry{OrgID: o.ID, At: now, ActorID: "operator", ActorName: "roomhub CLI", Action: "apikey.create",
			ObjectType: "apikey", ObjectID: strconv.FormatInt(k.ID, 10), Description: "key " + a.name + " created", Success: true})
		fmt.Fprintln(out, key)
	case "sessions clear":
		u, err := st.DeleteAllUserSessions(ctx)
		if err != nil {
			return err
		}
		p, err := st.DeleteAllSessions(ctx)
		if err != nil {
			return err
		}
		// Participants hold members and sockets beyond their session: the
		// members go too, and every running node, at its next presence
		// reconcile pass, ends their sockets (4001) and token renewal.
		m, err := st.DeleteAllMembers(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "signed out %d dashboard session(s) and %d participant session(s); removed %d room member(s), whose sockets close within PRESENCE_RECONCILE (%s)\n",
			u, p, m, cfg.PresenceReconcile)
	case "secrets rotate":
		return rotate(ctx, st, a.oldKey, a.newKey, out)
	default:
		return roomhub.Errorf(roomhub.EINVALID, "unknown command %q", cmd)
	}
	return nil
}

// rotate re-encrypts every stored secret from the old master key to the
// new one in one transaction: all of them change, or none.
func rotate(ctx context.Context, st *sqlstore.Store, oldKey, newKey string, out io.Writer) error {
	if oldKey == "" || newKey == "" {
		return roomhub.Invalid("old-key", "Give --old-key and --new-key.")
	}
	if oldKey == newKey {
		return roomhub.Invalid("new-key", "The new key must differ from the old one.")
	}
	oldBox, err := secret.New(oldKey)
	if err != nil {
		return roomhub.Invalid("old-key", "--old-key: %v", err)
	}
	newBox, err := secret.New(newKey)
	if err != nil {
		return roomhub.Invalid("new-key", "--new-key: %v", err)
	}
	in, err := st.ListSealedSecrets(ctx)
	if err != nil {
		return err
	}
	rotated, err := secret.Rotate(oldBox, newBox, in)
	if err != nil {
		return roomhub.Errorf(roomhub.EINVALID, "nothing changed: %v", err)
	}
	if err := st.ReplaceSealedSecrets(ctx, rotated); err != nil {
		return err
	}
	counts := map[string]int{}
	for _, s := range rotated {
		counts[s.Table+"."+s.Column]++
	}
	fmt.Fprintf(out, "Rotation complete: %d secrets updated\n", len(rotated))
	for _, k := range []string{"org_settings.agora_certificate", "users.totp_secret"} {
		fmt.Fprintf(out, "  %s: %d updated\n", k, counts[k])
	}
	fmt.Fprintln(out, "Now set APP_MASTER_KEY to the new key and restart every node.")
	return nil
}
