package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// stateVersion is bumped when State changes incompatibly.
const stateVersion = 1

// StateFile is the name of the state file in a lab directory.
const StateFile = "state.json"

// State is what a lab records in DIR/state.json: enough to find, restart and stop its processes
// from another process.
type State struct {
	Version   int    `json:"version"`
	Dir       string `json:"dir"`
	LabBin    string `json:"labBin"`
	Bin       string `json:"bin"`
	ConfigDir string `json:"configDir,omitempty"`
	// APIServerPort is the kube-apiserver's secure port; the kubeconfig points at it.
	APIServerPort int `json:"apiServerPort,omitempty"`
	// Components in start order; Stop goes through them backwards.
	Components []*ComponentState `json:"components"`
}

// ComponentState is one process of the lab.
type ComponentState struct {
	Name string   `json:"name"`
	Path string   `json:"path"`
	Args []string `json:"args"`
	// Env is added to the lab's own environment (later entries win), e.g. GOGC.
	Env []string `json:"env,omitempty"`
	// Ports the process listens on, by role ("client", "peer", "secure", "health").
	Ports map[string]int `json:"ports,omitempty"`
	// ReadyURL answers 200 once the process is ready; empty when the process has no probe.
	ReadyURL string `json:"readyURL,omitempty"`
	// ReadyCA is the CA file to verify ReadyURL with; empty means TLS is not verified (the
	// component serves a self-signed certificate).
	ReadyCA string `json:"readyCA,omitempty"`
	Log     string `json:"log"`
	// ReadyTimeout bounds the wait for ReadyURL after a start.
	ReadyTimeout time.Duration `json:"readyTimeout"`
	// StopTimeout is how long Stop waits after SIGTERM before it sends SIGKILL.
	StopTimeout time.Duration `json:"stopTimeout"`
	// PID of the running process (and its process group); 0 when stopped.
	PID int `json:"pid,omitempty"`
	// StartTicks is the process start time from /proc/PID/stat, so that a reused PID is never
	// mistaken for the lab's process.
	StartTicks uint64    `json:"startTicks,omitempty"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
}

// PortList returns every port of the component.
func (c *ComponentState) PortList() []int {
	ports := make([]int, 0, len(c.Ports))
	for _, p := range c.Ports {
		ports = append(ports, p)
	}
	return ports
}

// StatePath is where a lab directory keeps its state.
func StatePath(dir string) string { return filepath.Join(dir, StateFile) }

// LoadState reads DIR/state.json.
func LoadState(dir string) (*State, error) {
	data, err := os.ReadFile(StatePath(dir))
	if err != nil {
		return nil, fmt.Errorf("load lab state: %w", err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("load lab state %s: %w", StatePath(dir), err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("load lab state %s: version %d, want %d (stop the lab with the binary that started it)", StatePath(dir), s.Version, stateVersion)
	}
	return &s, nil
}

// Save writes the state to DIR/state.json atomically.
func (s *State) Save() error {
	s.Version = stateVersion
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode lab state: %w", err)
	}
	return writeFile(StatePath(s.Dir), append(data, '\n'), 0o644)
}

// Component returns the component called name, or nil.
func (s *State) Component(name string) *ComponentState {
	for _, c := range s.Components {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// writeFile writes data atomically (temporary file, then rename).
func writeFile(path string, data []byte, perm os.FileMode) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	cerr := tmp.Chmod(perm)
	if err := errors.Join(werr, cerr, tmp.Close()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
