package lab

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
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

func TestNewStateValidation(t *testing.T) {
	labBin := t.TempDir()
	for _, b := range []string{EtcdBinary, KubeAPIServerBinary, KubeControllerManagerBinary} {
		if err := os.WriteFile(filepath.Join(labBin, b), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, tc := range map[string]struct {
		opts    Options
		wantErr string
		want    []string
	}{
		"all":            {opts: Options{LabBin: labBin}, want: AllComponents},
		"order":          {opts: Options{LabBin: labBin, Components: []string{KubeAPIServer, Etcd}}, want: []string{Etcd, KubeAPIServer}},
		"no lab bin":     {opts: Options{}, wantErr: "LabBin"},
		"unknown":        {opts: Options{LabBin: labBin, Components: []string{"kubelet"}}, wantErr: "unknown component"},
		"missing needs":  {opts: Options{LabBin: labBin, Components: []string{Etcd, Controller}}, wantErr: "needs kube-apiserver"},
		"missing binary": {opts: Options{LabBin: t.TempDir(), Components: []string{Etcd}}, wantErr: "etcd not found"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, names, err := newState(tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(names, tc.want) {
				t.Errorf("components %v, want %v", names, tc.want)
			}
		})
	}
}
