package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"roomhub"
	"roomhub/agora"
	"roomhub/config"
	"roomhub/secret"
	"roomhub/sso"
)

// devKeysFile holds the development master key and API key secret, so a
// DEBUG server keeps its encrypted secrets readable across restarts.
const devKeysFile = "dev-keys.json"

// devKeys fills unset APP_MASTER_KEY and API_KEY_SECRET in DEBUG from
// DATA_DIR/dev-keys.json, creating it (mode 0600) on first use.
func devKeys(cfg *config.Config) error {
	path := filepath.Join(cfg.DataDir, devKeysFile)
	var k struct{ MasterKey, APIKeySecret string }
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &k); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	case errors.Is(err, os.ErrNotExist):
		k.MasterKey, k.APIKeySecret = secret.GenerateKey(), generateKey()
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return err
		}
		b, _ := json.Marshal(k)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return err
		}
	default:
		return err
	}
	if cfg.MasterKey == "" {
		cfg.MasterKey = k.MasterKey
	}
	if cfg.APIKeySecret == "" {
		cfg.APIKeySecret = k.APIKeySecret
	}
	return nil
}

// orgCredentials reads an organization's own Agora credentials, opening the
// sealed certificate.
func orgCredentials(a roomhub.Accounts, box *secret.Box) agora.Lookup {
	return func(ctx context.Context, org int64) (agora.Credentials, bool, error) {
		set, err := a.OrgSettings(ctx, org)
		if err != nil {
			return agora.Credentials{}, false, err
		}
		if set.AgoraAppID == "" || set.AgoraCertificate == "" {
			return agora.Credentials{}, false, nil
		}
		cert, err := box.Open(set.AgoraCertificate, secret.AAD(roomhub.SealedSecret{Table: "org_settings", Column: "agora_certificate", ID: org}))
		if err != nil {
			return agora.Credentials{}, false, &roomhub.Error{Code: roomhub.EINTERNAL, Message: "stored Agora certificate unreadable", Err: err}
		}
		return agora.Credentials{AppID: set.AgoraAppID, Certificate: cert}, true, nil
	}
}

func ssoConfig(cfg config.Config) sso.Config {
	return sso.Config{
		PublicURL:  cfg.PublicURL,
		OIDCIssuer: cfg.SSOOIDCIssuer, OIDCClientID: cfg.SSOOIDCClientID, OIDCClientSecret: cfg.SSOOIDCClientSecret,
		GoogleClientID: cfg.SSOGoogleClientID, GoogleClientSecret: cfg.SSOGoogleSecret,
		GitHubClientID: cfg.SSOGitHubClientID, GitHubClientSecret: cfg.SSOGitHubSecret,
		AzureADClientID: cfg.SSOAzureClientID, AzureADClientSecret: cfg.SSOAzureSecret, AzureADTenant: cfg.SSOAzureTenant,
	}
}
