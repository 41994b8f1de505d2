package health

import (
	"errors"
	"fmt"
	"time"
)

// State is a target's health state, as DescribeTargetHealth names it.
type State string

const (
	Initial           State = "initial"
	Healthy           State = "healthy"
	Unhealthy         State = "unhealthy"
	UnhealthyDraining State = "unhealthy.draining"
	Unused            State = "unused"
	Draining          State = "draining"
	Unavailable       State = "unavailable"
)

// Reason is TargetHealth.Reason: the reason codes of the ELBv2 API
// reference (TargetHealthReasonEnum).
type Reason string

const (
	ReasonNone                     Reason = ""
	ReasonRegistrationInProgress   Reason = "Elb.RegistrationInProgress"
	ReasonInitialHealthChecking    Reason = "Elb.InitialHealthChecking"
	ReasonResponseCodeMismatch     Reason = "Target.ResponseCodeMismatch"
	ReasonTimeout                  Reason = "Target.Timeout"
	ReasonFailedHealthChecks       Reason = "Target.FailedHealthChecks"
	ReasonNotRegistered            Reason = "Target.NotRegistered"
	ReasonNotInUse                 Reason = "Target.NotInUse"
	ReasonDeregistrationInProgress Reason = "Target.DeregistrationInProgress"
	ReasonInvalidState             Reason = "Target.InvalidState"
	ReasonIPUnusable               Reason = "Target.IpUnusable"
	ReasonHealthCheckDisabled      Reason = "Target.HealthCheckDisabled"
	ReasonInternalError            Reason = "Elb.InternalError"
)

// Descriptions that go with the reasons, as AWS words them.
const (
	descRegistration = "Target registration is in progress"
	descInitial      = "Initial health checks in progress"
	descFailed       = "Health checks failed"
	descTimeout      = "Request timed out"
	descCodes        = "Health checks failed with these codes: [%d]"
)

// Status is a target's health: TargetHealth's State, Reason and
// Description. A healthy target has neither reason nor description.
type Status struct {
	State       State
	Reason      Reason
	Description string
}

func (s Status) String() string {
	if s.Reason == ReasonNone {
		return string(s.State)
	}
	return fmt.Sprintf("%s/%s: %s", s.State, s.Reason, s.Description)
}

// Registered is the status of a target that was just registered.
var Registered = Status{Initial, ReasonRegistrationInProgress, descRegistration}

// Outcome is how one health check ended.
type Outcome uint8

const (
	// Pass: the connection opened (TCP) or the status code matched (HTTP).
	Pass Outcome = iota
	// Fail: the connection could not be made, or the answer was malformed.
	Fail
	// Timeout: no connection or answer within the timeout.
	Timeout
	// Mismatch: the HTTP status code did not match; Result.Code has it.
	Mismatch
)

func (o Outcome) String() string {
	switch o {
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	case Timeout:
		return "timeout"
	case Mismatch:
		return "mismatch"
	}
	return fmt.Sprintf("Outcome(%d)", o)
}

// Result is the result of one health check. The zero Result is a pass.
type Result struct {
	Outcome Outcome
	Code    int   // the HTTP status code, when there was one
	Err     error // what went wrong, for logs
}

func (r Result) String() string {
	s := r.Outcome.String()
	if r.Code != 0 {
		s += fmt.Sprintf(" %d", r.Code)
	}
	if r.Err != nil {
		s += ": " + r.Err.Error()
	}
	return s
}

// Config is a target group's health check timing and thresholds.
type Config struct {
	Interval           time.Duration // HealthCheckIntervalSeconds
	Timeout            time.Duration // HealthCheckTimeoutSeconds
	HealthyThreshold   int           // HealthyThresholdCount
	UnhealthyThreshold int           // UnhealthyThresholdCount

	// DetailedReasons reports timeouts as Target.Timeout and unmatched
	// codes as Target.ResponseCodeMismatch, as application and gateway
	// load balancers do. A network load balancer reports every failure
	// as Target.FailedHealthChecks.
	DetailedReasons bool
}

// Defaults for network load balancers (HealthCheckTimeoutSeconds is 6 for
// HTTP checks and 10 for TCP and HTTPS).
var (
	DefaultTCPConfig  = Config{Interval: 30 * time.Second, Timeout: 10 * time.Second, HealthyThreshold: 5, UnhealthyThreshold: 2}
	DefaultHTTPConfig = Config{Interval: 30 * time.Second, Timeout: 6 * time.Second, HealthyThreshold: 5, UnhealthyThreshold: 2}
)

// Validate checks what the Machine needs: positive durations, a timeout no
// longer than the interval (checks never overlap), thresholds of at least
// one. AWS's narrower ranges are the API's to enforce.
func (c Config) Validate() error {
	switch {
	case c.Interval <= 0 || c.Timeout <= 0:
		return errors.New("health: interval and timeout must be positive")
	case c.Timeout > c.Interval:
		return fmt.Errorf("health: timeout %v is longer than the interval %v", c.Timeout, c.Interval)
	case c.HealthyThreshold < 1 || c.UnhealthyThreshold < 1:
		return errors.New("health: thresholds must be at least 1")
	}
	return nil
}

// Machine is one target's health. It does no I/O and reads no clock: the
// caller tells it when a check starts and how it ended, and asks it when
// the next check is due. Not safe for concurrent use.
type Machine struct {
	cfg       Config
	st        Status
	passes    int // consecutive
	fails     int // consecutive
	lastStart time.Time
	next      time.Time
	inFlight  bool
	deadline  time.Time
	started   int // checks started
}

// NewMachine returns the machine of a target registered at now, whose
// first check is due after first. It panics if cfg is not valid.
func NewMachine(cfg Config, now time.Time, first time.Duration) *Machine {
	return Resume(cfg, Registered, now, first)
}

// Resume returns the machine of a target whose last known status is st
// (as the store holds it after a restart): a healthy target stays healthy
// until UnhealthyThreshold checks fail, an unhealthy one unhealthy until
// HealthyThreshold checks pass. Any state but healthy and unhealthy
// starts over as just registered. It panics if cfg is not valid.
func Resume(cfg Config, st Status, now time.Time, first time.Duration) *Machine {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	switch st.State {
	case Healthy:
		st = Status{State: Healthy}
	case Unhealthy:
		if st.Reason == ReasonNone {
			st = Status{Unhealthy, ReasonFailedHealthChecks, descFailed}
		}
	case Initial:
		if st.Reason != ReasonInitialHealthChecking {
			st = Registered
		}
	default:
		st = Registered
	}
	return &Machine{cfg: cfg, st: st, next: now.Add(max(first, 0))}
}

// Status returns the target's current status.
func (m *Machine) Status() Status { return m.st }

// Config returns the machine's configuration.
func (m *Machine) Config() Config { return m.cfg }

// Next returns when the next check is due; ok is false while a check is
// in flight.
func (m *Machine) Next() (t time.Time, ok bool) { return m.next, !m.inFlight }

// Deadline returns when the check in flight times out; ok is false if
// none is.
func (m *Machine) Deadline() (t time.Time, ok bool) { return m.deadline, m.inFlight }

// Start records that a check starts at now. The next one is due an
// interval later, moved by jitter (but never before this one's deadline):
// checks keep their rhythm whatever the target's response time. The
// first check turns Elb.RegistrationInProgress into
// Elb.InitialHealthChecking. It reports whether the status changed, and
// does nothing if a check is in flight already.
func (m *Machine) Start(now time.Time, jitter time.Duration) bool {
	if m.inFlight {
		return false
	}
	m.inFlight = true
	m.started++
	m.lastStart = now
	m.deadline = now.Add(m.cfg.Timeout)
	m.next = now.Add(max(m.cfg.Interval+jitter, m.cfg.Timeout))
	if m.st == Registered {
		m.st = Status{Initial, ReasonInitialHealthChecking, descInitial}
		return true
	}
	return false
}

// Started returns the number of checks started.
func (m *Machine) Started() int { return m.started }

// Finish records the result of the check in flight, at now. A pass that
// arrives after the deadline counts as a timeout. It reports whether the
// status changed, and does nothing if no check is in flight.
func (m *Machine) Finish(now time.Time, r Result) bool {
	if !m.inFlight {
		return false
	}
	m.inFlight = false
	if r.Outcome == Pass && now.After(m.deadline) {
		r = Result{Outcome: Timeout}
	}
	old := m.st
	if r.Outcome == Pass {
		m.passes++
		m.fails = 0
		if m.st.State != Healthy && m.passes >= m.cfg.HealthyThreshold {
			m.st = Status{State: Healthy}
		}
	} else {
		m.fails++
		m.passes = 0
		switch {
		case m.st.State == Unhealthy:
			// Stays unhealthy; the description follows the latest failure.
			m.st = m.failure(r)
		case m.fails >= m.cfg.UnhealthyThreshold:
			m.st = m.failure(r)
		}
	}
	return m.st != old
}

// Expire times out the check in flight if now is past its deadline, and
// reports whether the status changed.
func (m *Machine) Expire(now time.Time) bool {
	if !m.inFlight || now.Before(m.deadline) {
		return false
	}
	return m.Finish(now, Result{Outcome: Timeout})
}

// Counts returns the consecutive passes and failures so far.
func (m *Machine) Counts() (passes, fails int) { return m.passes, m.fails }

// failure is the unhealthy status a failed check r leads to.
func (m *Machine) failure(r Result) Status {
	st := Status{Unhealthy, ReasonFailedHealthChecks, descFailed}
	switch r.Outcome {
	case Timeout:
		if m.cfg.DetailedReasons {
			st.Reason, st.Description = ReasonTimeout, descTimeout
		}
	case Mismatch:
		st.Description = fmt.Sprintf(descCodes, r.Code)
		if m.cfg.DetailedReasons {
			st.Reason = ReasonResponseCodeMismatch
		}
	}
	return st
}

// SetConfig changes the configuration. The status and the counts stay;
// new thresholds apply from the next result on, a new interval from the
// last check's start. It panics if cfg is not valid.
func (m *Machine) SetConfig(cfg Config) {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	if cfg.Interval != m.cfg.Interval && !m.lastStart.IsZero() {
		m.next = m.lastStart.Add(cfg.Interval)
	}
	if m.inFlight {
		m.deadline = m.lastStart.Add(cfg.Timeout)
	}
	if !cfg.DetailedReasons && m.st.State == Unhealthy {
		switch m.st.Reason {
		case ReasonTimeout:
			m.st = Status{Unhealthy, ReasonFailedHealthChecks, descFailed}
		case ReasonResponseCodeMismatch:
			m.st.Reason = ReasonFailedHealthChecks
		}
	}
	m.cfg = cfg
}
