package health

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the expected output in testdata")

// TestTranscripts runs the Machine through testdata/transcripts/*.txt.
// Each file is a sequence of blocks: a command, a line "----", and what
// the command printed, ending at a blank line. Lines starting with '#'
// are comments. With -update the output is rewritten.
//
// Commands:
//
//	new interval=D timeout=D healthy=N unhealthy=N [first=D] [detailed] [resume=STATE]
//	advance D          move the clock; checks start when due, expire at their deadline
//	pass | fail | timeout | code N  [after=D]
//	                   the check in flight ends so (D later, with no
//	                   expiry in between)
//	config interval=D timeout=D healthy=N unhealthy=N [detailed]
//	status
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob("testdata/transcripts/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runTranscript(t, file) })
	}
}

func runTranscript(t *testing.T, file string) {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	r := &transcript{}
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			out.WriteString(line + "\n")
			continue
		}
		cmd := line
		if i+1 >= len(lines) || lines[i+1] != "----" {
			t.Fatalf("%s:%d: command %q is not followed by ----", file, i+1, cmd)
		}
		i += 2
		var want []string
		for ; i < len(lines) && lines[i] != ""; i++ {
			want = append(want, lines[i])
		}
		i-- // the blank line is written as such by the loop
		got := r.run(cmd)
		if strings.Join(got, "\n") != strings.Join(want, "\n") && !*update {
			t.Errorf("%s:%d: %s\n got:\n  %s\n want:\n  %s", file, i, cmd,
				strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		fmt.Fprintf(&out, "%s\n----\n", cmd)
		for _, l := range got {
			out.WriteString(l + "\n")
		}
	}
	if *update {
		if err := os.WriteFile(file, []byte(strings.TrimSuffix(out.String(), "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// transcript is the state of one transcript: a machine and a clock.
type transcript struct {
	m   *Machine
	now time.Duration // since the epoch
	out []string
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (r *transcript) at() time.Time { return epoch.Add(r.now) }

func (r *transcript) logf(format string, args ...any) {
	r.out = append(r.out, fmt.Sprintf("t=%v ", r.now)+fmt.Sprintf(format, args...))
}

// changed logs the status if it changed.
func (r *transcript) changed(ok bool) {
	if ok {
		r.logf("-> %s", r.m.Status())
	}
}

func (r *transcript) run(cmd string) []string {
	r.out = nil
	f := strings.Fields(cmd)
	if err := r.exec(f[0], f[1:]); err != nil {
		r.out = append(r.out, "error: "+err.Error())
	}
	return r.out
}

func (r *transcript) exec(name string, args []string) error {
	if name != "new" && r.m == nil {
		return errors.New("no machine: use new first")
	}
	switch name {
	case "new", "config":
		cfg, first, resume, err := parseConfig(args)
		if err != nil {
			return err
		}
		if err := cfg.Validate(); err != nil {
			return err
		}
		if name == "config" {
			r.m.SetConfig(cfg)
			next, _ := r.m.Next()
			r.logf("config %+v, next check t=%v", cfg, next.Sub(epoch))
			return nil
		}
		r.now = 0
		if resume != "" {
			r.m = Resume(cfg, Status{State: State(resume)}, r.at(), first)
		} else {
			r.m = NewMachine(cfg, r.at(), first)
		}
		next, _ := r.m.Next()
		r.logf("%s, first check t=%v", r.m.Status(), next.Sub(epoch))
	case "advance":
		if len(args) != 1 {
			return errors.New("advance D")
		}
		d, err := time.ParseDuration(args[0])
		if err != nil {
			return err
		}
		end := r.now + d
		for {
			// The next event: the deadline of the check in flight, or the
			// start of the next one.
			var ev time.Time
			if dl, ok := r.m.Deadline(); ok {
				ev = dl
			} else {
				ev, _ = r.m.Next()
			}
			if ev.Sub(epoch) > end {
				break
			}
			r.now = ev.Sub(epoch)
			if _, ok := r.m.Deadline(); ok {
				n := r.m.Started()
				ch := r.m.Expire(r.at())
				p, fl := r.m.Counts()
				r.logf("check %d times out (passes %d, failures %d)", n, p, fl)
				r.changed(ch)
				continue
			}
			ch := r.m.Start(r.at(), 0)
			dl, _ := r.m.Deadline()
			r.logf("check %d starts, deadline t=%v", r.m.Started(), dl.Sub(epoch))
			r.changed(ch)
		}
		r.now = end
	case "pass", "fail", "timeout", "code":
		res := map[string]Result{"pass": {}, "fail": {Outcome: Fail}, "timeout": {Outcome: Timeout}}[name]
		if name == "code" {
			if len(args) < 1 {
				return errors.New("code N")
			}
			c, err := strconv.Atoi(args[0])
			if err != nil {
				return err
			}
			res = Result{Outcome: Mismatch, Code: c}
			args = args[1:]
		}
		if len(args) == 1 && strings.HasPrefix(args[0], "after=") {
			// The answer comes this much later; nothing else happens
			// in between (no expiry).
			d, err := time.ParseDuration(strings.TrimPrefix(args[0], "after="))
			if err != nil {
				return err
			}
			r.now += d
		} else if len(args) > 0 {
			return fmt.Errorf("unexpected %q", args)
		}
		if _, ok := r.m.Deadline(); !ok {
			return errors.New("no check in flight")
		}
		n := r.m.Started()
		late := ""
		if dl, _ := r.m.Deadline(); r.at().After(dl) {
			late = ", after the deadline"
		}
		ch := r.m.Finish(r.at(), res)
		p, fl := r.m.Counts()
		r.logf("check %d: %s%s (passes %d, failures %d)", n, res, late, p, fl)
		r.changed(ch)
	case "status":
		r.logf("%s", r.m.Status())
	default:
		return fmt.Errorf("unknown command %q", name)
	}
	return nil
}

func parseConfig(args []string) (cfg Config, first time.Duration, resume string, err error) {
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "interval", "timeout", "first":
			d, err := time.ParseDuration(v)
			if err != nil {
				return cfg, 0, "", err
			}
			switch k {
			case "interval":
				cfg.Interval = d
			case "timeout":
				cfg.Timeout = d
			default:
				first = d
			}
		case "healthy", "unhealthy":
			n, err := strconv.Atoi(v)
			if err != nil {
				return cfg, 0, "", err
			}
			if k == "healthy" {
				cfg.HealthyThreshold = n
			} else {
				cfg.UnhealthyThreshold = n
			}
		case "detailed":
			cfg.DetailedReasons = true
		case "resume":
			resume = v
		default:
			return cfg, 0, "", fmt.Errorf("unknown setting %q", a)
		}
	}
	return cfg, first, resume, nil
}
