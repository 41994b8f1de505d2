package core

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/isthmusnet/isthmus/store"
)

// Draining: a deregistered target of a target group that a load balancer
// uses stays "draining" (Target.DeregistrationInProgress) for the group's
// deregistration_delay.timeout_seconds. Its health record says so, with
// the time the delay ends (TargetHealth.Until); DescribeTargetHealth lists
// it meanwhile. The data plane sends it no new flows (it is no longer
// registered) and lets its flows go on; when the delay ends it ends them
// if deregistration_delay.connection_termination.enabled says so, and
// completes the deregistration with EndDraining (at once when it finds the
// target has no flow left, as AWS does for a target with no connections).
// A delay of 0, a group no load balancer uses, or an instance target whose
// interface is gone completes it at once. Registering the target again
// ends its draining.

// Health state and reason of a draining target.
const (
	TargetDraining            = "draining"
	reasonDeregistration      = "Target.DeregistrationInProgress"
	descriptionDeregistration = "Target deregistration is in progress"
)

// drainTarget records that t, just removed from tg's targets, drains (or
// forgets it when it need not).
func (tx *Tx) drainTarget(tg *TargetGroup, t Target) error {
	key := healthKey(tg.Region, tg.ID, t.ID, t.Port)
	delay, _ := strconv.Atoi(tg.Attributes["deregistration_delay.timeout_seconds"])
	lbs, err := tx.listenersForwardingTo(tg)
	if err != nil {
		return err
	}
	if delay <= 0 || len(lbs) == 0 {
		return tx.Delete(key)
	}
	if tg.TargetType == TargetTypeInstance {
		if _, ok, err := loadAny[NetworkInterface](tx, kindENI, t.ID); err != nil || !ok {
			return tx.Delete(key) // its interface is gone: no connection can be left
		}
	}
	now := tx.c.Now()
	return putJSON(tx, key, TargetHealth{State: TargetDraining, Reason: reasonDeregistration, Description: descriptionDeregistration,
		Updated: now, Until: now.Add(time.Duration(delay) * time.Second)})
}

// drainingTargets returns the targets of tg that drain now, by id and port.
func (tx *Tx) drainingTargets(tg *TargetGroup) ([]TargetHealthDescription, error) {
	prefix := healthPrefix(tg.Region, tg.ID)
	now := tx.c.Now()
	var out []TargetHealthDescription
	var derr error
	err := tx.Scan(prefix, "", func(key string, b []byte) bool {
		id, portText, ok := strings.Cut(strings.TrimPrefix(key, prefix), "/")
		port, err := strconv.Atoi(portText)
		if !ok || err != nil || tg.indexOf(id, int32(port)) >= 0 {
			return true
		}
		h, err := decodeJSON[TargetHealth](b)
		if err != nil {
			derr = err
			return false
		}
		if h.State == TargetDraining && now.Before(h.Until) {
			out = append(out, tg.describeTarget(Target{ID: id, Port: int32(port)}, *h))
		}
		return true
	})
	if err == nil {
		err = derr
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Target.ID != out[j].Target.ID {
			return out[i].Target.ID < out[j].Target.ID
		}
		return out[i].Target.Port < out[j].Target.Port
	})
	return out, err
}

// EndDraining completes the deregistration of a draining target whose
// delay is over: its record goes. It is not an API call (the data plane
// calls it); a target that is not draining any more is left alone.
func (c *Cloud) EndDraining(region, tgARN string, target TargetRef) error {
	if _, ok := c.regions[region]; !ok {
		return unknownRegion(region)
	}
	id, ok := targetGroupIDOf(tgARN)
	if !ok {
		return elbValidation("'%s' is not a valid target group ARN", tgARN)
	}
	_, err := c.st.Update(func(stx store.Tx) error {
		key := healthKey(region, id, target.ID, target.Port)
		h, ok, err := getJSON[TargetHealth](stx, key)
		if err != nil || !ok || h.State != TargetDraining {
			return err
		}
		return stx.Delete(key)
	})
	return err
}
