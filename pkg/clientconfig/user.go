package clientconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// UserConfig selects the client the tools use by default (wire contract §4.4).
type UserConfig struct {
	APIVersion string       `yaml:"apiVersion"`
	Kind       string       `yaml:"kind"`
	Config     UserSettings `yaml:"config"`
}

// UserSettings is the config block of a UserConfig.
type UserSettings struct {
	// CurrentClient is the alias of a file in clients/; nil writes null.
	CurrentClient *string `yaml:"current-client"`
}

// ParseUserConfig decodes a UserConfig, ignoring unknown keys.
func ParseUserConfig(data []byte) (*UserConfig, error) {
	root, err := document(data)
	if err != nil {
		return nil, fmt.Errorf("parse UserConfig: %w", err)
	}
	entries, err := mapping(root, "", nil)
	if err != nil {
		return nil, fmt.Errorf("parse UserConfig: %w", err)
	}
	u := &UserConfig{APIVersion: APIVersion, Kind: KindUserConfig}
	for _, e := range entries {
		switch e.key {
		case "apiVersion":
			err = literal(e.value, e.key, APIVersion)
		case "kind":
			err = literal(e.value, e.key, KindUserConfig)
		case "config":
			err = decodeUserSettings(e.value, e.key, &u.Config)
		}
		if err != nil {
			return nil, fmt.Errorf("parse UserConfig: %w", err)
		}
	}
	return u, nil
}

func decodeUserSettings(n *yaml.Node, path string, dst *UserSettings) error {
	entries, err := mapping(n, path, nil)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.key == "current-client" {
			if err := decodeOptionalString(e.value, join(path, e.key), &dst.CurrentClient); err != nil {
				return err
			}
		}
	}
	return nil
}

// Marshal encodes the user config.
func (u *UserConfig) Marshal() ([]byte, error) {
	out := *u
	out.APIVersion, out.Kind = APIVersion, KindUserConfig
	data, err := encode(&out)
	if err != nil {
		return nil, fmt.Errorf("encode UserConfig: %w", err)
	}
	return data, nil
}

// SelectFirstClient makes alias the current client in the user config when the client config
// just written for it is the only one in CONFIG_HOME/clients (what `admin create client` does
// upstream when it saves to the default path). It reports whether it changed the user config.
func SelectFirstClient(alias string) (bool, error) {
	clientPath, err := ClientConfigPath(alias)
	if err != nil {
		return false, err
	}
	others, err := filepath.Glob(filepath.Join(filepath.Dir(clientPath), "*.yaml"))
	if err != nil {
		return false, err
	}
	if len(others) != 1 || others[0] != clientPath {
		return false, nil
	}
	path, err := UserConfigPath()
	if err != nil {
		return false, err
	}
	u := &UserConfig{APIVersion: APIVersion, Kind: KindUserConfig}
	switch data, err := os.ReadFile(path); {
	case err == nil:
		if u, err = ParseUserConfig(data); err != nil {
			return false, fmt.Errorf("%s: %w", path, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return false, fmt.Errorf("read user config: %w", err)
	}
	u.Config.CurrentClient = &alias
	data, err := u.Marshal()
	if err != nil {
		return false, err
	}
	return true, WriteFile(path, data)
}
