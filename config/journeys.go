package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mtguard/mtguard/schemas"
	"github.com/mtguard/mtguard/yamlstrict"
)

// Journey is one item of journeys: the routes a record travels through, in order, and how
// long it may take to reach the last.
type Journey struct {
	// Name is unique among journeys and matches the route name pattern.
	Name string
	// Key is the record key that ties the hops together (email): on each step it is read from
	// the route's record_keys paths whose last segment is Key, in any case (email,
	// properties.email, input[].email, Email).
	Key string
	// Steps are route names, at least two, each once.
	Steps []string
	// Within is how long a record that reached the first step has to reach the last; > 0.
	Within time.Duration
	// Owner is named in the alert of a record lost in transit; the last step's owner if unset.
	Owner string
	Line  int
}

// Drift is a route's drift: block: learn the payload shape for Learn, then flag changes.
type Drift struct {
	Learn time.Duration
	Line  int
}

// DefaultDriftLearn is how long a route with drift: {} learns its payload shape.
const DefaultDriftLearn = 7 * 24 * time.Hour

// KeyMatches reports whether the record-key path (properties.email, input[].email) names the
// journey key (email): its last segment, without [], equals key in any case.
func KeyMatches(path, key string) bool {
	last := path[strings.LastIndexByte(path, '.')+1:]
	last = strings.TrimSuffix(last, "[]")
	k := key[strings.LastIndexByte(key, '.')+1:]
	return strings.EqualFold(last, strings.TrimSuffix(k, "[]"))
}

// journeys reads the journeys: list; routes are the routes already read, to check the steps.
func (p *configParser) journeys(n *yaml.Node, routes []Route) []Journey {
	var out []Journey
	seen := map[string]int{}
	for i, item := range p.Seq(n, "journeys") {
		jk := fmt.Sprintf("journeys[%d]", i)
		f, ok := p.Mapping(item, jk, "name", "key", "steps", "within", "owner")
		if !ok {
			continue
		}
		j := Journey{Line: item.Line}
		if v, ok := p.Str(f.Get("name"), jk+".name"); ok {
			switch line, dup := seen[v]; {
			case !routeNameRE.MatchString(v):
				p.Addf(f.Get("name").Line, jk+".name", "%q is not a journey name (use lowercase letters, digits, _ and -, e.g. webinar-lead)", v)
			case dup:
				p.Addf(f.Get("name").Line, jk+".name", "%q is already the name of the journey on line %d; give each journey its own name", v, line)
			default:
				seen[v] = f.Get("name").Line
			}
			j.Name = v
		} else if !yamlstrict.Given(f.Get("name")) {
			p.Addf(item.Line, jk, "name is required (a short id like webinar-lead, used in alerts and mtguard journeys)")
		}
		if v, ok := p.Str(f.Get("key"), jk+".key"); ok {
			if _, err := schemas.ParseKeyPath(v); err != nil {
				p.Addf(f.Get("key").Line, jk+".key", "%v", err)
			} else {
				j.Key = v
			}
		} else if !yamlstrict.Given(f.Get("key")) {
			p.Addf(item.Line, jk, "key is required: the record key that ties the hops together, e.g. email")
		}
		if d, ok := p.Duration(f.Get("within"), jk+".within"); ok {
			j.Within = d
		} else if !yamlstrict.Given(f.Get("within")) {
			p.Addf(item.Line, jk, "within is required: how long a record that reached the first step has to reach the last, e.g. 30m")
		}
		j.Owner, _ = p.Str(f.Get("owner"), jk+".owner")
		steps := p.List(f.Get("steps"), jk+".steps")
		if len(steps) < 2 && yamlstrict.Given(f.Get("steps")) {
			p.Addf(f.Get("steps").Line, jk+".steps", "a journey needs at least two steps (the route a record enters by and the one it must reach)")
		} else if !yamlstrict.Given(f.Get("steps")) {
			p.Addf(item.Line, jk, "steps is required: the route names a record travels through, in order, e.g. [webinar-form, marketo, salesforce]")
		}
		for _, s := range steps {
			i := slices.IndexFunc(routes, func(r Route) bool { return r.Name == s.Val })
			switch {
			case slices.Contains(j.Steps, s.Val):
				p.Addf(s.Line, s.Key, "%q is already a step of this journey; list each route once", s.Val)
				continue
			case i < 0:
				p.Addf(s.Line, s.Key, "%q is not a route; steps name routes (%s)", s.Val, routeNames(routes))
				continue
			case j.Key != "" && !slices.ContainsFunc(routes[i].RecordKeys, func(k string) bool { return KeyMatches(k, j.Key) }):
				p.Addf(s.Line, s.Key, "route %q has no record key for %q (its record_keys: [%s]); add the path where the record's %s is in its payload, e.g. %s or input[].%s",
					s.Val, j.Key, strings.Join(routes[i].RecordKeys, ", "), j.Key, j.Key, j.Key)
			}
			j.Steps = append(j.Steps, s.Val)
		}
		out = append(out, j)
	}
	return out
}

func routeNames(routes []Route) string {
	var names []string
	for _, r := range routes {
		names = append(names, r.Name)
	}
	if len(names) == 0 {
		return "none is configured"
	}
	return "configured: " + strings.Join(names, ", ")
}

// drift reads a route's drift: block; nil when absent.
func (p *configParser) drift(n *yaml.Node, key string) *Drift {
	if !yamlstrict.Given(n) {
		return nil
	}
	f, ok := p.Mapping(n, key, "learn")
	if !ok {
		return nil
	}
	d := &Drift{Learn: DefaultDriftLearn, Line: yamlstrict.Deref(n).Line}
	if s, ok := p.Str(f.Get("learn"), key+".learn"); ok {
		v, err := parseDays(s)
		if err != nil || v <= 0 {
			p.Addf(f.Get("learn").Line, key+".learn", "%q is not a duration greater than zero (write 7d, 36h or 90m)", s)
		} else {
			d.Learn = v
		}
	}
	return d
}

// parseDays is time.ParseDuration that also takes whole days (7d).
func parseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, err
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}
