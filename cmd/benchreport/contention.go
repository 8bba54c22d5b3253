package main

import "time"

// quietThreshold is how much CPU (in cores) other processes may use for the machine to
// count as quiet; a timed phase during which they used more than disturbedThreshold is
// measured again (up to -retries times).
const (
	quietThreshold     = 0.15
	disturbedThreshold = 0.25
)

// meter measures how much CPU other processes used over a stretch of time, so that the
// report can say whether the machine was shared while a figure was measured. CPU used
// by benchreport and by the children it names counts as its own.
type meter struct {
	start time.Time
	busy  time.Duration
	own   time.Duration
	pids  []int
	ok    bool
}

func (b *bench) startMeter(pids ...int) meter {
	if b.memcachedPID != 0 {
		pids = append(pids, b.memcachedPID)
	}
	m := meter{start: time.Now(), pids: pids}
	m.busy, m.ok = machineBusy()
	m.own, m.ok = m.ownCPU(m.ok)
	return m
}

func (m meter) ownCPU(ok bool) (time.Duration, bool) {
	own, ok2 := selfCPU()
	ok = ok && ok2
	for _, pid := range m.pids {
		d, ok3 := procCPU(pid)
		own += d
		ok = ok && ok3
	}
	return own, ok
}

// others returns the cores other processes used on average since the meter started.
func (m meter) others() (float64, bool) {
	busy, ok := machineBusy()
	own, ok := m.ownCPU(ok && m.ok)
	wall := time.Since(m.start)
	if !ok || wall <= 0 {
		return 0, false
	}
	return max((busy-m.busy-(own-m.own)).Seconds()/wall.Seconds(), 0), true
}

// contention is the other processes' CPU use during a measurement (cores; -1 unknown).
type contention float64

func measured(c float64, ok bool) contention {
	if !ok {
		return -1
	}
	return contention(c)
}

// waitQuiet waits, up to b.cfg.quietWait, until other processes use less than
// quietThreshold cores over a second, so timed phases run on a machine of their own
// when they can. The report says how long it waited in total.
func (b *bench) waitQuiet(what string) {
	if b.cfg.quietWait <= 0 {
		return
	}
	deadline := time.Now().Add(b.cfg.quietWait)
	start := time.Now()
	said := false
	for {
		m := b.startMeter()
		time.Sleep(time.Second)
		o, ok := m.others()
		if !ok || o < quietThreshold {
			break
		}
		if time.Now().After(deadline) {
			progress("  the machine is still busy (other processes use %.2f cores): measuring %s anyway", o, what)
			b.notQuiet++
			break
		}
		if !said {
			progress("  other processes use %.2f cores: waiting up to %s for a quiet machine before %s", o, b.cfg.quietWait, what)
			said = true
		}
	}
	b.waited += time.Since(start)
}

// disturbed reports whether a phase measured while other processes used c cores
// should be measured again (and counts the retry).
func (b *bench) disturbed(c contention, attempt int, what string) bool {
	if float64(c) <= disturbedThreshold || attempt >= b.cfg.retries {
		return false
	}
	progress("  other processes used %.2f cores during %s: measuring it again", float64(c), what)
	b.retried++
	return true
}
