// Package dockerconfig is mab's one answer to "which Docker config folder,
// and what does it hold": the folder --config names, else $DOCKER_CONFIG,
// else ~/.docker, read and written through the Docker CLI's own config
// package, so that credential helpers (credHelpers) and credsStore work
// exactly as they do for `docker login`.
//
// Every reader in mab goes through this folder: BuildKit's auth provider
// and the Docker API's credentials (the Docker CLI's config.Dir), the
// registry keychain of package merge (Keychain), buildx's instances
// ($DOCKER_CONFIG/buildx) and the Docker daemon's TLS files. It knows
// nothing of registries beyond their names: checking a password against a
// registry is package merge's.
package dockerconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/credentials"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// HubServer is the key under which the Docker config keeps Docker Hub's
// credentials, for historical reasons.
const HubServer = "https://index.docker.io/v1/"

// SetDir makes dir the Docker config folder of the whole process: the
// Docker CLI's config package is told, and $DOCKER_CONFIG is set, which
// go-containerregistry, buildx's folder and any credential helper that
// mab starts read. dir may not exist yet (a login creates it); it may not
// be a file.
func SetDir(dir string) error {
	if dir == "" {
		return errors.New("invalid --config \"\": want a folder")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("resolving --config %s: %w", dir, err)
	}
	if fi, err := os.Stat(abs); err == nil && !fi.IsDir() {
		return fmt.Errorf("invalid --config %s: not a folder (it holds config.json)", dir)
	}
	config.SetDir(abs)
	if err := os.Setenv(config.EnvOverrideConfigDir, abs); err != nil {
		return fmt.Errorf("setting %s: %w", config.EnvOverrideConfigDir, err)
	}
	return nil
}

// Dir is the Docker config folder: SetDir's, else $DOCKER_CONFIG, else
// ~/.docker.
func Dir() string { return config.Dir() }

// Load reads config.json of Dir. A missing file is an empty config; a
// malformed one is an error (the Docker CLI's LoadDefaultConfigFile only
// warns, and a save would then overwrite it). As for the Docker CLI, a
// config without credentials gets the platform's default credential
// store when its helper is installed.
func Load() (*configfile.ConfigFile, error) {
	cf, err := config.Load(Dir())
	if err != nil {
		return nil, fmt.Errorf("reading the Docker config: %w", err)
	}
	if !cf.ContainsAuth() {
		cf.CredentialsStore = credentials.DetectDefaultStore(cf.CredentialsStore)
	}
	return cf, nil
}

// ServerKey is the key under which the Docker config keeps the
// credentials of registry (HOST[:PORT], as in a reference): HubServer for
// Docker Hub, else the host itself, as `docker login` stores it.
func ServerKey(registry string) string {
	switch registry {
	case "", name.DefaultRegistry, "docker.io", "registry-1.docker.io":
		return HubServer
	}
	return registry
}

// Store saves username and password for registry in the Docker config,
// through its credential helper for that registry when it has one (or its
// credsStore), else base64-encoded in config.json's auths, as `docker
// login` does. It returns where they went, for the user: a helper's name
// or the file's path. No error carries the password.
func Store(registry, username, password string) (string, error) {
	cf, err := Load()
	if err != nil {
		return "", err
	}
	key := ServerKey(registry)
	store := cf.GetCredentialsStore(key)
	err = store.Store(types.AuthConfig{Username: username, Password: password, ServerAddress: key})
	if err != nil {
		return "", fmt.Errorf("storing credentials for %s in %s: %s", registry, where(cf, key), scrub(err, password))
	}
	return where(cf, key), nil
}

// Erase removes registry's credentials from the Docker config (and from
// its credential helper), under each key a login may have used: HOST,
// https://HOST and http://HOST. It reports whether there were any.
func Erase(registry string) (bool, error) {
	cf, err := Load()
	if err != nil {
		return false, err
	}
	key := ServerKey(registry)
	keys := []string{key}
	if key != HubServer {
		keys = append(keys, "https://"+key, "http://"+key)
	}
	found := false
	var errs []error
	for _, k := range keys {
		ac, err := cf.GetAuthConfig(k)
		if _, inFile := cf.AuthConfigs[k]; !inFile && (err != nil || empty(ac)) {
			continue
		}
		found = true
		if err := cf.GetCredentialsStore(k).Erase(k); err != nil {
			errs = append(errs, fmt.Errorf("removing credentials for %s from %s: %w", k, where(cf, k), err))
		}
	}
	return found, errors.Join(errs...)
}

// where names where the credentials of key are kept.
func where(cf *configfile.ConfigFile, key string) string {
	if h := cf.CredentialHelpers[key]; h != "" {
		return "credential helper docker-credential-" + h
	}
	if cf.CredentialsStore != "" {
		return "credential store docker-credential-" + cf.CredentialsStore
	}
	return cf.Filename
}

// scrub is err's message without password: a credential helper's error
// may quote what it was given.
func scrub(err error, password string) string {
	msg := err.Error()
	if password != "" {
		msg = strings.ReplaceAll(msg, password, "***")
	}
	return msg
}

// Keychain is the registry keychain of the Docker config in Dir, read anew
// for each registry (so a login earlier in the process is seen), with its
// credential helpers and credsStore. Unlike go-containerregistry's
// authn.DefaultKeychain it has no other source: without an entry the
// registry is spoken to anonymously, whatever podman's auth.json holds.
var Keychain authn.Keychain = keychain{}

type keychain struct{}

// Resolve implements authn.Keychain, by the rule of go-containerregistry's
// default keychain: the repository's key first, then the registry's.
func (keychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	cf, err := Load()
	if err != nil {
		return nil, err
	}
	for _, key := range []string{target.String(), target.RegistryStr()} {
		ac, err := cf.GetAuthConfig(ServerKey(key))
		if err != nil {
			return nil, fmt.Errorf("reading credentials for %s: %w", key, err)
		}
		if !empty(ac) {
			return authn.FromConfig(authn.AuthConfig{
				Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
				IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
			}), nil
		}
	}
	return authn.Anonymous, nil
}

// empty reports whether ac holds no credential.
func empty(ac types.AuthConfig) bool {
	return ac.Username == "" && ac.Password == "" && ac.Auth == "" && ac.IdentityToken == "" && ac.RegistryToken == ""
}
