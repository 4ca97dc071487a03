package lab

import (
	"reflect"
	"testing"
	"time"
)

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := &State{
		Dir:           dir,
		LabBin:        "/lab-bin",
		Bin:           "/bin",
		ConfigDir:     "/config",
		APIServerPort: 6443,
		Components: []*ComponentState{{
			Name:         Etcd,
			Path:         "/lab-bin/etcd",
			Args:         []string{"--unsafe-no-fsync"},
			Ports:        map[string]int{"client": 1, "peer": 2},
			ReadyURL:     "http://127.0.0.1:1/health",
			Log:          dir + "/logs/etcd.log",
			ReadyTimeout: 30 * time.Second,
			StopTimeout:  10 * time.Second,
			PID:          42,
			StartTicks:   123456,
			StartedAt:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		}},
	}
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
	if got.Component(Etcd) == nil || got.Component(Controller) != nil {
		t.Error("Component lookup")
	}
}

func TestLoadStateMissing(t *testing.T) {
	if _, err := LoadState(t.TempDir()); err == nil {
		t.Fatal("LoadState of an empty dir succeeded")
	}
	if _, err := Attach(t.TempDir()); err == nil {
		t.Fatal("Attach of an empty dir succeeded")
	}
}
