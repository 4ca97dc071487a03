package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"jumpstarter.dev/service/pkg/lab"
)

// userHZ is the unit of the tick counts in /proc/PID/stat (USER_HZ, 100 on every common
// architecture; Go has no portable sysconf(_SC_CLK_TCK)).
const userHZ = 100

// cpuTime is utime + stime of a process.
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may contain anything: parse after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	var ticks uint64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// peakRSS is VmHWM of a process, in bytes.
func peakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse VmHWM of %d: %w", pid, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// cpuUse is the CPU time of every lab process, this benchmark process and the whole machine,
// sampled at the start and the end of a phase: it shows where a scenario's CPU went, and
// whether the machine was saturated (then the figures are bound by CPU, not by latency).
type cpuUse struct {
	names []string
	pids  map[string]int
	start map[string]time.Duration
	// busyStart and totalStart are the busy and total time of all CPUs, from /proc/stat.
	busyStart, totalStart time.Duration
}

// benchProcess names this process among the lab's components.
const benchProcess = "bench"

func startCPUUse(components []lab.ComponentState) (*cpuUse, error) {
	u := &cpuUse{pids: map[string]int{benchProcess: os.Getpid()}, start: map[string]time.Duration{}}
	for _, c := range components {
		u.names = append(u.names, c.Name)
		u.pids[c.Name] = c.PID
	}
	u.names = append(u.names, benchProcess)
	for _, n := range u.names {
		cpu, err := cpuTime(u.pids[n])
		if err != nil {
			return nil, fmt.Errorf("CPU time of %s: %w", n, err)
		}
		u.start[n] = cpu
	}
	var err error
	u.busyStart, u.totalStart, err = machineCPU()
	return u, err
}

// addTo adds a row of CPU time per item (lease) since the start, by process, and the
// machine's busy share over the phase.
func (u *cpuUse) addTo(results *table, scenario string, items int, per string) error {
	var parts []string
	var sum time.Duration
	for _, n := range u.names {
		cpu, err := cpuTime(u.pids[n])
		if err != nil {
			return fmt.Errorf("CPU time of %s: %w", n, err)
		}
		d := cpu - u.start[n]
		sum += d
		parts = append(parts, fmt.Sprintf("%s %.0f", n, ms(d/time.Duration(items))))
	}
	busy, total, err := machineCPU()
	if err != nil {
		return err
	}
	results.add(scenario, "CPU ms per "+per+": "+strings.Join(parts, ", "), fmt.Sprintf("%.0f in all", ms(sum/time.Duration(items))), "—")
	results.add(scenario, "machine CPU busy over the phase", fmt.Sprintf("%.0f%%", 100*float64(busy-u.busyStart)/float64(total-u.totalStart)), "—")
	return nil
}

// machineCPU is the busy (all but idle and iowait) and total time of all CPUs.
func machineCPU() (busy, total time.Duration, err error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 6 || fields[0] != "cpu" {
		return 0, 0, fmt.Errorf("parse /proc/stat: %q", line)
	}
	var ticks [16]uint64
	for i, f := range fields[1:min(len(fields), 17)] {
		if ticks[i], err = strconv.ParseUint(f, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("parse /proc/stat: %w", err)
		}
	}
	var sum uint64
	// user nice system idle iowait irq softirq steal (guest time is counted in user already).
	for _, t := range ticks[:8] {
		sum += t
	}
	idle := ticks[3] + ticks[4]
	return time.Duration(sum-idle) * time.Second / userHZ, time.Duration(sum) * time.Second / userHZ, nil
}
