package account

import "roomhub"

// Who may do what to whom among the members of an organization: the
// dashboard's users page applies these rules when a person acts, and
// sign-in applies them again when a link that person issued is used.

// MayAssign reports whether the acting member may give role (only owners
// make owners).
func MayAssign(actor roomhub.Role, role roomhub.Role) bool {
	return role.Valid() && (role != roomhub.RoleOwner || actor == roomhub.RoleOwner)
}

// ResetRefusal is the rule for the actions that change a whole account,
// not a membership: resetting its second factor, or making a password
// reset link (shown to whoever makes it), hands the account to whoever
// holds the link. actor and target are memberships of one organization and
// all is every membership of target's account. It returns "" when actor
// may reset target, else why not; hidden marks the refusal that is
// answered like a user who is not there (404).
//   - Nobody resets their own account this way: a stolen session would
//     otherwise become a password and a second factor of the thief's.
//   - Only owners and admins reset, and an admin only viewers: owners act
//     on admins and owners.
//   - Only an account that belongs to this organization alone: otherwise
//     an admin of one organization could take over an owner of another.
func ResetRefusal(actor, target roomhub.Membership, all []roomhub.Membership) (why string, hidden bool) {
	switch {
	case actor.UserID == target.UserID:
		return "nobody resets their own account from the users page", false
	case !actor.Role.CanManage():
		return "only owners and admins reset accounts", false
	case actor.Role != roomhub.RoleOwner && target.Role != roomhub.RoleViewer:
		return "an admin may reset only viewers", false
	}
	for _, other := range all {
		if other.OrgID != target.OrgID {
			return "the account belongs to another organization too", true
		}
	}
	return "", false
}
