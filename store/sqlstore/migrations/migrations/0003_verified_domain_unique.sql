-- A verified SSO domain belongs to one organization. SaveOrgSettings checks
-- this too; the index makes it hold when two operators verify at once.
CREATE UNIQUE INDEX org_settings_verified_domain ON org_settings (sso_domain) WHERE sso_domain_verified = 1;
