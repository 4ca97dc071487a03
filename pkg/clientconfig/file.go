package clientconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Environment variables that move the config folder, as for the Python tools.
const (
	EnvConfigHome    = "JMP_CLIENT_CONFIG_HOME"
	EnvXDGConfigHome = "XDG_CONFIG_HOME"
)

// FileMode of every config file: they hold bearer tokens.
const FileMode os.FileMode = 0o600

// dirMode of the folders WriteFile creates.
const dirMode os.FileMode = 0o700

// ConfigHome is the folder of the tools' config files: $JMP_CLIENT_CONFIG_HOME, else
// $XDG_CONFIG_HOME/jumpstarter, else ~/.config/jumpstarter.
func ConfigHome() (string, error) {
	if dir := os.Getenv(EnvConfigHome); dir != "" {
		return dir, nil
	}
	if dir := os.Getenv(EnvXDGConfigHome); dir != "" {
		return filepath.Join(dir, "jumpstarter"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the config folder (set $%s): %w", EnvConfigHome, err)
	}
	return filepath.Join(home, ".config", "jumpstarter"), nil
}

// ClientConfigPath is the default file of the client config alias (the client's name, for
// `admin create client`): CONFIG_HOME/clients/<alias>.yaml.
func ClientConfigPath(alias string) (string, error) {
	return aliasPath("clients", alias)
}

// ExporterConfigPath is the default file of the exporter config alias:
// CONFIG_HOME/exporters/<alias>.yaml.
func ExporterConfigPath(alias string) (string, error) {
	return aliasPath("exporters", alias)
}

// UserConfigPath is the user config, CONFIG_HOME/config.yaml.
func UserConfigPath() (string, error) {
	home, err := ConfigHome()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, "config.yaml"), nil
}

func aliasPath(folder, alias string) (string, error) {
	if alias == "" || strings.ContainsAny(alias, `/\`) || alias == "." || alias == ".." {
		return "", fmt.Errorf("config alias %q: want a file name without a folder", alias)
	}
	home, err := ConfigHome()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, folder, alias+".yaml"), nil
}

// LoadClientConfig reads and validates a ClientConfig file.
func LoadClientConfig(path string) (*ClientConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load client config: %w", err)
	}
	c, err := parseClientConfig(data)
	if err != nil {
		return nil, fmt.Errorf("load client config %s: %w", path, err)
	}
	return c, nil
}

// LoadExporterConfig reads and validates an ExporterConfig file.
func LoadExporterConfig(path string) (*ExporterConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load exporter config: %w", err)
	}
	c, err := parseExporterConfig(data)
	if err != nil {
		return nil, fmt.Errorf("load exporter config %s: %w", path, err)
	}
	return c, nil
}

// Save writes the config to path with WriteFile.
func (c *ClientConfig) Save(path string) error {
	data, err := c.Marshal()
	if err != nil {
		return err
	}
	return WriteFile(path, data)
}

// Save writes the config to path with WriteFile.
func (c *ExporterConfig) Save(path string) error {
	data, err := c.Marshal()
	if err != nil {
		return err
	}
	return WriteFile(path, data)
}

// WriteFile replaces path atomically with data, mode 0600 from the first byte on (a token
// never sits in a file others can read), creating missing folders with mode 0700.
func WriteFile(path string, data []byte) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return err
	}
	// CreateTemp creates the file with mode 0600.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	if err := errors.Join(werr, tmp.Chmod(FileMode), tmp.Sync(), tmp.Close()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
